"""Finding the number in a whole photo with the localizer: a first look at the whole photo, then a second
look at a window around the first answer (twice the box, clipped to the photo), which the localizer was
trained for (``training.tasks.reframe``). Boxes come back as ``(left, top, width, height)`` in the photo's
pixels, the form ``predict(boxes=...)`` takes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from svhn_api.data.preprocess import RESAMPLE, rgb, whole_photo

Box = tuple[float, float, float, float]
CONTEXT = 2.0          # the second look's window: this many times the first box, each way
MIN_WINDOW = 0.25      # ... and at least this share of the photo's width and height


def locate(images: Sequence[Image.Image], localizer: object) -> list[Box]:
    """The number's box in each photo (the union of its digit boxes, as the localizer sees it)."""
    if not images:
        return []
    size = localizer.input_shape[0]  # type: ignore[attr-defined]
    first = localizer.run(np.stack([whole_photo(img, size) for img in images]))  # type: ignore[attr-defined]
    windows = [context_window(img.size, f) for img, f in zip(images, first, strict=True)]
    crops = np.stack([np.asarray(rgb(img).resize((size, size), RESAMPLE, box=w), dtype=np.uint8)
                      for img, w in zip(images, windows, strict=True)])
    second = localizer.run(crops)  # type: ignore[attr-defined]
    return [to_pixels(s, w) for s, w in zip(second, windows, strict=True)]


def context_window(size: tuple[int, int], box: np.ndarray) -> tuple[float, float, float, float]:
    """``(left, top, right, bottom)`` pixels of the second look around ``box`` (fractions of the photo)."""
    w, h = size
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    half_w = max((x1 - x0) * w * CONTEXT, MIN_WINDOW * w) / 2
    half_h = max((y1 - y0) * h * CONTEXT, MIN_WINDOW * h) / 2
    return (max(0.0, cx - half_w), max(0.0, cy - half_h), min(float(w), cx + half_w), min(float(h), cy + half_h))


def to_pixels(box: np.ndarray, window: tuple[float, float, float, float]) -> Box:
    """A box given as fractions of ``window`` as ``(left, top, width, height)`` photo pixels (at least 1 px)."""
    left, top, right, bottom = window
    ww, wh = right - left, bottom - top
    x0, y0, x1, y1 = (float(v) for v in box)
    return (left + x0 * ww, top + y0 * wh, max(1.0, (x1 - x0) * ww), max(1.0, (y1 - y0) * wh))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two ``(N, 4)`` arrays of ``(left, top, right, bottom)`` boxes."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area - inter, 1e-9)


def union_boxes(boxes: np.ndarray) -> np.ndarray:
    """``(N, 5, 4)`` digit boxes (left, top, width, height; NaN where absent) -> ``(N, 4)`` union boxes as
    (left, top, right, bottom) pixels."""
    left, top = np.nanmin(boxes[..., 0], axis=1), np.nanmin(boxes[..., 1], axis=1)
    right = np.nanmax(boxes[..., 0] + boxes[..., 2], axis=1)
    bottom = np.nanmax(boxes[..., 1] + boxes[..., 3], axis=1)
    return np.stack([left, top, right, bottom], axis=1)
