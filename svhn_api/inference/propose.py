"""The full pipeline's first stage: where in a whole photo the number may be.

The fast path's box (the localizer's, or the search's when its first reading was unsure) comes first; then the
pretrained text detector's boxes (``text_detect``), which find numbers too small in the photo for the
localizer's 64x64 look; then pairs of those boxes that sit side by side on one line, since the detector may
split a number with a wide gap ("1 7") into two boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

from svhn_api.boxes import Box

DETECTED = 3          # the detector's best boxes kept as candidates
JOIN_FROM = 4         # ... and its best boxes tried in pairs
JOIN_HEIGHT = 1.6     # a pair: heights within this ratio,
JOIN_OVERLAP = 0.5    # overlapping vertically by this share of the shorter one,
JOIN_GAP = 1.5        # and a horizontal gap of at most this many heights


def joined(boxes: Sequence[Box]) -> list[Box]:
    """The union of every pair of ``boxes`` (left one first) that reads as one line of text."""
    out = []
    for a in boxes:
        for b in boxes:
            if not a[0] < b[0]:
                continue
            short, tall = sorted((a[3], b[3]))
            overlap = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            gap = b[0] - (a[0] + a[2])
            if tall > JOIN_HEIGHT * short or overlap < JOIN_OVERLAP * short or gap > JOIN_GAP * tall:
                continue
            x0, y0 = min(a[0], b[0]), min(a[1], b[1])
            x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
            out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def propose(first: Box | None, first_source: str, detected: Sequence[tuple[Box, float]]) -> list[tuple[Box, str]]:
    """The candidate boxes of one photo with where each came from: ``first`` (the fast path's box, when it has
    one), the detector's best ``DETECTED`` boxes, then the line pairs of its best ``JOIN_FROM``."""
    boxes = [b for b, _ in detected]
    out = [] if first is None else [(first, first_source)]
    out += [(b, "text-detector") for b in boxes[:DETECTED]]
    out += [(b, "text-detector, joined") for b in joined(boxes[:JOIN_FROM])]
    return out
