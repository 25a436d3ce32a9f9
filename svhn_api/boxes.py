"""Boxes, one contract for every layer.

A ``Box`` is ``(left, top, width, height)`` in a photo's pixels: the form of the official annotations,
``predict(boxes=...)`` and every reading's ``box``. Batch work uses arrays of *corners*, ``(..., 4)`` as
``(x0, y0, x1, y1)``, in pixels or as fractions of the photo's width and height (the localizer's output).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

import numpy as np

Box = tuple[float, float, float, float]
Corners = tuple[float, float, float, float]


class HasBox(Protocol):
    """Anything with a box's four fields, such as ``records.DigitBox``."""

    @property
    def left(self) -> float: ...
    @property
    def top(self) -> float: ...
    @property
    def width(self) -> float: ...
    @property
    def height(self) -> float: ...


def as_box(values: Iterable[float]) -> Box:
    """Four numbers as a box of floats; ValueError when they are not four."""
    left, top, width, height = (float(v) for v in values)
    return left, top, width, height


class NotABox(ValueError):
    """Why some values are not a box: ``str()`` is a phrase that follows the box (``has 3 numbers``);
    ``numbers`` holds the values as floats when they are numbers (to show them), else None."""

    def __init__(self, problem: str, numbers: tuple[float, ...] | None = None):
        super().__init__(problem)
        self.numbers = numbers


def checked(values: object) -> Box:
    """``values`` as a box: 4 finite numbers with a width and height greater than 0 (the one box check, for
    ``predict(boxes=...)`` and ``svhn predict --box``); ``NotABox`` saying what is wrong otherwise."""
    try:
        numbers = tuple(float(v) for v in values)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise NotABox("is not 4 numbers") from None
    if len(numbers) != 4:
        raise NotABox(f"has {len(numbers)} number{'' if len(numbers) == 1 else 's'}", numbers)
    if not all(math.isfinite(v) for v in numbers):
        raise NotABox("holds a value that is not a finite number (NaN or infinity)", numbers)
    if not (numbers[2] > 0 and numbers[3] > 0):
        raise NotABox("must have a width and height greater than 0", numbers)
    return as_box(numbers)


def from_text(text: str) -> Box:
    """``"left,top,width,height"`` (``svhn predict --box``, ``svhn serve``'s ``box``) as a checked box; ``NotABox``
    whose message quotes the text and says what to give."""
    try:
        return checked(text.split(","))
    except NotABox as e:
        raise NotABox(f"{text!r} {e}; give 4 numbers left,top,width,height in pixels, e.g. 10,5,40,30",
                      e.numbers) from None


def corners(box: Box) -> Corners:
    """``(x0, y0, x1, y1)`` of a box."""
    left, top, width, height = box
    return left, top, left + width, top + height


def union(boxes: Iterable[HasBox]) -> Box:
    """The smallest box holding every box of ``boxes`` (e.g. a number's digit boxes)."""
    boxes = list(boxes)
    x0, y0 = min(b.left for b in boxes), min(b.top for b in boxes)
    x1, y1 = max(b.left + b.width for b in boxes), max(b.top + b.height for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


def union_corners(boxes: np.ndarray) -> np.ndarray:
    """``(N, 5, 4)`` digit boxes (left, top, width, height; NaN where absent) -> ``(N, 4)`` corners of each row's
    union, in pixels."""
    left, top = np.nanmin(boxes[..., 0], axis=1), np.nanmin(boxes[..., 1], axis=1)
    right = np.nanmax(boxes[..., 0] + boxes[..., 2], axis=1)
    bottom = np.nanmax(boxes[..., 1] + boxes[..., 3], axis=1)
    return np.stack([left, top, right, bottom], axis=1)


def union_fractions(boxes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``union_corners`` as fractions of each photo's ``(width, height)`` (``sizes``, ``(N, 2)``), clipped to
    [0, 1]: the localizer's target."""
    w, h = sizes[:, 0].astype(np.float32), sizes[:, 1].astype(np.float32)
    return np.clip(union_corners(boxes) / np.stack([w, h, w, h], axis=1), 0.0, 1.0).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of two arrays of corners (last axis), matched by broadcasting: ``(N, 4)`` with ``(N, 4)`` pairs rows,
    ``(N, 1, 4)`` with ``(1, M, 4)`` gives every pair."""
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area - inter, 1e-9)


def box_iou(a: Box, b: Box) -> float:
    """IoU of two boxes."""
    return float(iou(np.array(corners(a), dtype=float), np.array(corners(b), dtype=float)))


def fractions(box: Box, size: tuple[int, int]) -> np.ndarray:
    """A box's corners as fractions of a photo of ``size`` (width, height)."""
    w, h = size
    x0, y0, x1, y1 = corners(box)
    return np.array([x0 / w, y0 / h, x1 / w, y1 / h])


def from_fractions(frac: np.ndarray, window: Corners) -> Box:
    """Corners given as fractions of ``window`` (corners in the photo's pixels) as a box in the photo's pixels
    (at least 1 px each way)."""
    left, top, right, bottom = window
    ww, wh = right - left, bottom - top
    x0, y0, x1, y1 = (float(v) for v in frac)
    return left + x0 * ww, top + y0 * wh, max(1.0, (x1 - x0) * ww), max(1.0, (y1 - y0) * wh)


def scaled(box: Box, sx: float, sy: float) -> Box:
    """``box`` in the pixels of the same photo scaled by ``sx`` and ``sy`` (e.g. from a reduced copy's pixels back
    to the original's)."""
    left, top, width, height = box
    return left * sx, top * sy, width * sx, height * sy


def clip(box: Box, size: tuple[int, int]) -> Box | None:
    """The part of ``box`` inside a photo of ``size`` (width, height); None when no part is."""
    w, h = size
    x0, y0, x1, y1 = corners(box)
    x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None
