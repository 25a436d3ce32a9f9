"""Text boxes in a photo from the pretrained DBNet text detector (``models.scene_text``).

Pre-processing: the photo, its edge pixels repeated around it (``bordered``), resized so that its sides are
multiples of 32 (bilinear), scaled to [-1, 1].
The scale follows the photo (``detector_scale``): a small SVHN-like photo is looked at several times larger,
so that a number a fifth of its height is tens of pixels tall; a phone photo is looked at with its long side at
``MAX_SIDE``, where a number of a few percent of its height is still found.

Post-processing (Differentiable Binarization): the probability map thresholded at ``THRESH`` and dilated by
2x2, its 8-connected regions each a candidate; a region whose mean probability inside its box is under
``BOX_THRESH`` is dropped; each kept box is grown back ("unclipped") by ``area * UNCLIP / perimeter`` on every
side, since DBNet is trained to mark a shrunk core of each text line. House numbers are upright, so boxes stay
axis-aligned (PaddleOCR fits rotated rectangles; on level text both give the same box).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from svhn_api.boxes import Box
from svhn_api.data.preprocess import rgb
from svhn_api.models.scene_text import SceneTextModel

THRESH = 0.3
BOX_THRESH = 0.5
UNCLIP = 1.6
MIN_SIDE = 3          # map pixels: thinner regions are noise
MAX_UPSCALE = 4.0
MAX_SIDE = 1280       # the detector's long side at most (time grows with its area)
BORDER = 0.15         # the photo's edge pixels repeated up to this share of its size around it (chosen on validation)
STRIDE = 32


def detector_scale(size: tuple[int, int], max_upscale: float = MAX_UPSCALE, max_side: int = MAX_SIDE) -> float:
    """How much larger than the photo the detector looks at it: ``max_upscale``, less where the long side would
    pass ``max_side`` (a large photo is looked at reduced)."""
    return min(max_upscale, max_side / max(size))


def detector_input(img: Image.Image, scale: float) -> np.ndarray:
    """The photo as the detector reads it: (1, 3, H, W) float32 in [-1, 1], sides multiples of ``STRIDE``."""
    w, h = img.size
    tw, th = (max(STRIDE, int(round(v * scale / STRIDE)) * STRIDE) for v in (w, h))
    arr = np.asarray(rgb(img).resize((tw, th), Image.Resampling.BILINEAR), dtype=np.float32)
    return ((arr / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]


def regions(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The bounding boxes ``(x0, y0, x1, y1)`` (inclusive) of the 8-connected regions of a boolean map, found
    from its horizontal runs joined row to row (union-find over runs: a text map has few)."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows_s, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)            # exclusive; same order as the starts (row-major)
    n = len(starts)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_row = np.searchsorted(rows_s, np.arange(mask.shape[0] + 1))
    for r in range(mask.shape[0] - 1):
        a0, a1, b1 = by_row[r], by_row[r + 1], by_row[r + 2]
        j0 = a1
        for i in range(a0, a1):
            while j0 < b1 and ends[j0] < starts[i]:        # runs of the next row wholly left of run i (+1 diagonal)
                j0 += 1
            j = j0
            while j < b1 and starts[j] <= ends[i]:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[rj] = ri
                j += 1
    out: dict[int, list[int]] = {}
    for i in range(n):
        root = find(i)
        x0, x1, y = int(starts[i]), int(ends[i]) - 1, int(rows_s[i])
        if root in out:
            b = out[root]
            b[0], b[1], b[2], b[3] = min(b[0], x0), min(b[1], y), max(b[2], x1), max(b[3], y)
        else:
            out[root] = [x0, y, x1, y]
    return [(b[0], b[1], b[2], b[3]) for b in out.values()]


def boxes_from_map(prob: np.ndarray, size: tuple[int, int]) -> list[tuple[Box, float]]:
    """DB post-processing of one (H, W) probability map of a photo of ``size`` (width, height): its text boxes
    ``(left, top, width, height)`` in the photo's pixels with their scores, best first."""
    h, w = prob.shape
    mask = prob > THRESH
    grown = mask.copy()                          # 2x2 dilation
    grown[1:, :] |= mask[:-1, :]
    grown[:, 1:] |= grown[:, :-1].copy()
    out = []
    for x0, y0, x1, y1 in regions(grown):
        bw, bh = x1 - x0 + 1, y1 - y0 + 1
        if min(bw, bh) < MIN_SIDE:
            continue
        score = float(prob[y0:y1 + 1, x0:x1 + 1].mean())
        if score < BOX_THRESH:
            continue
        d = bw * bh * UNCLIP / (2 * (bw + bh))
        gx0, gy0, gx1, gy1 = x0 - d, y0 - d, x1 + 1 + d, y1 + 1 + d
        if min(gx1 - gx0, gy1 - gy0) < MIN_SIDE + 2:
            continue
        sx, sy = size[0] / w, size[1] / h
        left, top = max(0.0, gx0 * sx), max(0.0, gy0 * sy)
        right, bottom = min(float(size[0]), gx1 * sx), min(float(size[1]), gy1 * sy)
        if right - left > 1 and bottom - top > 1:
            out.append(((left, top, right - left, bottom - top), score))
    return sorted(out, key=lambda bs: -bs[1])


def bordered(img: Image.Image, border: float, room: float = float("inf")) -> tuple[Image.Image, int, int]:
    """The photo with its edge pixels repeated ``border`` of its width and height on each side (at most ``room``
    of them), and the border's width and height: DBNet misses text that touches the edge of what it sees, and a
    house number often fills its photo."""
    share = max(0.0, min(border, room))
    bx, by = int(round(img.width * share)), int(round(img.height * share))
    if not (bx or by):
        return img, 0, 0
    arr = np.pad(np.asarray(rgb(img)), ((by, by), (bx, bx), (0, 0)), mode="edge")
    return Image.fromarray(arr), bx, by


def text_boxes(images: Sequence[Image.Image], detector: SceneTextModel, max_upscale: float = MAX_UPSCALE,
               max_side: int = MAX_SIDE, border: float = BORDER) -> list[list[tuple[Box, float]]]:
    """For each photo, the detector's text boxes with their scores, best first, in the photo's pixels (one call
    per photo: sizes differ). The photo is looked at ``detector_scale`` larger, with a ``border`` (``bordered``)
    where there is room for one under ``max_side``: the border never costs the photo itself any scale."""
    out = []
    for img in images:
        scale = detector_scale(img.size, max_upscale, max_side)
        seen, bx, by = bordered(img, border, (max_side / (scale * max(img.size)) - 1) / 2)
        prob = detector.run(detector_input(seen, scale))[0, 0]
        found = []
        for (left, top, w, h), score in boxes_from_map(prob, seen.size):
            x0, y0 = max(0.0, left - bx), max(0.0, top - by)
            x1, y1 = min(float(img.width), left + w - bx), min(float(img.height), top + h - by)
            if x1 - x0 > 1 and y1 - y0 > 1:
                found.append(((x0, y0, x1 - x0, y1 - y0), score))
        out.append(found)
    return out
