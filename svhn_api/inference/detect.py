"""The detector's map, both ways: the map a photo's number box should give (training targets) and the
candidate boxes a predicted map gives (inference). A map has one cell per ``CELL`` x ``CELL`` pixels of the
detector's input; a cell is 1 where its centre lies inside the number's union box. Boxes here are
``(left, top, right, bottom)`` fractions of the photo. No Keras: the map comes from ``LoadedModel.run``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLD = 0.5     # a cell at or above it belongs to a candidate
CANDIDATES = 3      # at most this many candidates per photo, the most confident first


def target_maps(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(N, h, w)`` float32 maps for ``(N, 4)`` boxes: 1 in the cells whose centre lies inside the box, and
    in the cell holding the box's centre (so that a number smaller than a cell is still marked); a row of
    NaN (a photo with no number) gives an empty map."""
    h, w = shape
    ys, xs = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
    out = np.zeros((len(boxes), h, w), np.float32)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=np.float64)):
        if not np.isfinite([x0, y0, x1, y1]).all():
            continue
        out[i] = ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]
        cy, cx = min(h - 1, int((y0 + y1) / 2 * h)), min(w - 1, int((x0 + x1) / 2 * w))
        out[i, max(cy, 0), max(cx, 0)] = 1.0
    return out


def candidates(prob: np.ndarray, threshold: float = THRESHOLD, top: int = CANDIDATES) -> list[tuple[np.ndarray, float]]:
    """The candidate boxes of one ``(h, w)`` map: each connected group of cells at or above ``threshold``
    (8-neighbours) as its extent in fractions of the photo and its score (the group's highest cell), best
    first, at most ``top``. Empty: the detector sees no number."""
    h, w = prob.shape
    on = prob >= threshold
    seen = np.zeros_like(on)
    found = []
    for r0, c0 in zip(*np.nonzero(on), strict=True):
        if seen[r0, c0]:
            continue
        seen[r0, c0] = True
        stack, cells = [(r0, c0)], []
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for rr in range(max(r - 1, 0), min(r + 2, h)):
                for cc in range(max(c - 1, 0), min(c + 2, w)):
                    if on[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        stack.append((rr, cc))
        rows, cols = np.array(cells).T
        box = np.array([cols.min() / w, rows.min() / h, (cols.max() + 1) / w, (rows.max() + 1) / h])
        found.append((box, float(prob[rows, cols].max())))
    found.sort(key=lambda bs: -bs[1])
    return found[:top]


def best_boxes(maps: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """``(N, 4)``: each map's best candidate box, NaN where it has none."""
    out = np.full((len(maps), 4), np.nan)
    for i, m in enumerate(maps):
        found = candidates(m, top=1)
        if found:
            out[i] = found[0][0]
    return out
