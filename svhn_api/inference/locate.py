"""Finding the number in a whole photo: the localizer, led by the detector when there is one.

The localizer takes a first look at a window of the photo, then a second look at a window around the first
answer (twice the box, clipped to the photo), which it was trained for (``training.tasks.reframe``). From
the whole photo that is one candidate box. The detector (``inference.detect``) judges every part of the photo
by what it looks like, so it also finds numbers too small in the photo for the localizer's 64x64 look: each
of its candidates gives two more, its own box and the localizer's box from the context around it
(``candidates``). ``predict`` reads them all and keeps the one the readings agree on most (``agreement``).

Without a detector candidate, when the reading of the localizer's box is unsure, ``predict`` searches: the
same two looks start from overlapping windows of the photo (``search_windows``), so that a small number is
seen large enough, and again the candidate the readings agree on most wins. One 64x64 look at a whole photo
cannot find a number a fifth of its height among doors, lamps and signs; a look at a window a third of its
size can. Boxes come back as ``(left, top, width, height)`` in the photo's pixels, the form
``predict(boxes=...)`` takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from svhn_api.boxes import Box, Corners, corners, fractions, from_fractions, iou
from svhn_api.data.preprocess import RESAMPLE, rgb, whole_photo
from svhn_api.inference import detect

if TYPE_CHECKING:
    from svhn_api.models.io import LoadedModel

Window = Corners   # a part of the photo: (x0, y0, x1, y1) pixels
CONTEXT = 2.0          # the second look's window: this many times the first box, each way
MIN_WINDOW = 0.25      # ... and at least this share of the photo's width and height
# The search, chosen on the 103 real validation photos and their copies zoomed out to the test split's framing
# (see docs/experiments.md): windows of 2/3 and 1/2 of the photo, searched when the first reading is under 0.9.
SEARCH_GRIDS = (2, 3)
SEARCH_BELOW = 0.9
AGREE_IOU = 0.5        # candidates agree when they read the same number in boxes overlapping this much


def locate(images: Sequence[Image.Image], localizer: LoadedModel) -> list[Box]:
    """The number's box in each photo (the union of its digit boxes, as the localizer sees it)."""
    return looks([(img, (0.0, 0.0, float(img.width), float(img.height))) for img in images], localizer)


def detected(images: Sequence[Image.Image], detector: LoadedModel) -> list[list[Box]]:
    """For each photo, the detector's candidate boxes, best first; empty where it sees no number."""
    if not images:
        return []
    size = detector.input_shape[0]
    maps = detector.run(np.stack([whole_photo(img, size) for img in images]))
    return [[from_fractions(box, (0.0, 0.0, float(img.width), float(img.height))) for box, _ in detect.candidates(m)]
            for img, m in zip(images, maps, strict=True)]


def candidates(images: Sequence[Image.Image], localizer: LoadedModel,
               detector: LoadedModel | None = None) -> list[list[Box]]:
    """For each photo, the candidate boxes of the number: first the localizer's from the whole photo, then for
    each detector candidate its own box and the localizer's from the context around it."""
    found = detected(images, detector) if detector is not None else [[] for _ in images]
    starts = [(img, context_window(img.size, fractions(b, img.size))) for img, boxes in zip(images, found, strict=True)
              for b in boxes]
    refined = iter(looks(starts, localizer))
    return [[first] + [b for own in boxes for b in (own, next(refined))]
            for first, boxes in zip(locate(images, localizer), found, strict=True)]


def looks(starts: Sequence[tuple[Image.Image, Window]], localizer: LoadedModel) -> list[Box]:
    """For each (photo, window): the localizer's first look at the window, then its second look at the context
    around what it found there; the box in the photo's pixels."""
    if not starts:
        return []
    size = localizer.input_shape[0]

    def views(pairs: Sequence[tuple[Image.Image, Window]]) -> np.ndarray:
        return np.stack([np.asarray(rgb(img).resize((size, size), RESAMPLE, box=w), dtype=np.uint8)
                         for img, w in pairs])

    first = localizer.run(views(starts))
    contexts = [context_window(img.size, fractions(from_fractions(f, w), img.size))
                for (img, w), f in zip(starts, first, strict=True)]
    second = localizer.run(views([(img, c) for (img, _), c in zip(starts, contexts, strict=True)]))
    return [from_fractions(s, c) for s, c in zip(second, contexts, strict=True)]


def search_windows(size: tuple[int, int], grids: Sequence[int] = SEARCH_GRIDS) -> list[Window]:
    """For each ``g`` in ``grids``, ``g`` x ``g`` windows of ``2 / (g + 1)`` of the photo each way, overlapping
    by half: every part of the photo is seen at a larger scale than in the whole-photo look."""
    w, h = size
    out = []
    for g in grids:
        fw, fh = w * 2 / (g + 1), h * 2 / (g + 1)
        out += [(i * fw / 2, j * fh / 2, i * fw / 2 + fw, j * fh / 2 + fh) for j in range(g) for i in range(g)]
    return out


def agreement(boxes: Sequence[Box], numbers: Sequence[str | None], confidences: Sequence[float]) -> int:
    """The candidate with the most support: the summed confidence of the candidates (itself included) that
    read the same number in a box overlapping its own by ``AGREE_IOU``. A partial number read confidently in
    one window loses to the whole number that several windows find."""
    ltrb = np.array([corners(b) for b in boxes], dtype=float)
    overlap = iou(ltrb[:, None], ltrb[None, :]) >= AGREE_IOU
    same = np.array([[a is not None and a == b for b in numbers] for a in numbers])
    support = ((overlap & same) * np.asarray(confidences, dtype=float)[None, :]).sum(axis=1)
    return int(np.argmax(support))


def context_window(size: tuple[int, int], box: np.ndarray) -> Window:
    """The second look's window around ``box`` (corners as fractions of the photo)."""
    w, h = size
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    half_w = max((x1 - x0) * w * CONTEXT, MIN_WINDOW * w) / 2
    half_h = max((y1 - y0) * h * CONTEXT, MIN_WINDOW * h) / 2
    return (max(0.0, cx - half_w), max(0.0, cy - half_h), min(float(w), cx + half_w), min(float(h), cy + half_h))
