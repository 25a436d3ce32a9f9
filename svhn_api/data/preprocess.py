"""From a photo and its digit boxes to the fixed-size array a model reads (labels: ``svhn_api.labels``).

The crop modes (``CROP_MODES``; ``CROP_MEANINGS`` says what each is, for cards and reports); the two that
crop the number:
- ``union`` (Goodfellow et al. 2013): the union of the digit boxes, expanded by 30% (15% each side),
  clipped to the image, resized to 64x64 RGB. Training later takes random 54x54 crops.
- ``capstone`` (the 2016 capstone): each digit cropped by its own box, resized to 32x32 grayscale, stacked
  side by side, and the strip resized to 32x32. Its name before 0.2, ``seed``, is refused like any other
  unknown name (``crop_mode``: a ValueError naming the choices).
and the two that keep the whole photo: ``photo`` (64x64, for the localizer) and ``scene`` (128x128, for the
detector), the digit boxes and photo size stored beside them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
from PIL import Image

from svhn_api.boxes import Box, union
from svhn_api.labels import MAX_DIGITS
from svhn_api.records import DigitBox

CropMode = Literal["union", "capstone", "photo", "scene"]
CROP_MODES: tuple[CropMode, ...] = get_args(CropMode)
CROP_SHAPES = {"union": (64, 64, 3), "capstone": (32, 32, 1), "photo": (64, 64, 3), "scene": (128, 128, 3)}
CROP_MEANINGS: dict[str, str] = {
    "union": "ground-truth union box expanded 30%, 64x64 RGB",
    "capstone": "ground-truth digit boxes, each 32x32 gray, side by side, resized to 32x32 (the 2016 capstone's "
                "strip)",
    "photo": "the whole photo resized to 64x64 RGB (aspect not kept), for the localizer; the digit boxes and "
             "the photo size are stored beside it",
    "scene": "the whole photo resized to 128x128 RGB (aspect not kept), for the detector; the digit boxes and "
             "the photo size are stored beside it",
}
EXPAND = 0.30
RESAMPLE = Image.Resampling.BILINEAR


def crop_mode(name: str) -> CropMode:
    """``name`` when it is a crop mode; ValueError naming the choices if not."""
    for mode in CROP_MODES:
        if name == mode:
            return mode
    raise ValueError(f"crop mode {name!r}: choose one of {', '.join(CROP_MODES)}")


def crop_meaning(mode: str) -> str:
    """What a store of crop mode ``mode`` holds, in words; ValueError for an unknown mode."""
    return CROP_MEANINGS[crop_mode(mode)]


class SkipImage(ValueError):
    """An image the pipeline leaves out; the message is the reason shown in the summary."""


def expanded_crop(box: Box, size: tuple[int, int],
                  expand: float = EXPAND) -> tuple[int, int, int, int]:
    """Pixel rectangle (x0, y0, x1, y1) of ``box`` grown by ``expand`` (half each side), clipped to the image."""
    left, top, width, height = box
    w, h = size
    x0 = max(0, math.floor(left - width * expand / 2))
    y0 = max(0, math.floor(top - height * expand / 2))
    x1 = min(w, math.ceil(left + width * (1 + expand / 2)))
    y1 = min(h, math.ceil(top + height * (1 + expand / 2)))
    if x1 <= x0 or y1 <= y0:
        raise SkipImage(f"box {box} lies outside the {w}x{h} image")
    return x0, y0, x1, y1


def check_boxes(boxes: Sequence[DigitBox]) -> None:
    if not boxes:
        raise SkipImage("no digit boxes")
    if len(boxes) > MAX_DIGITS:
        raise SkipImage(f"{len(boxes)} digits (more than {MAX_DIGITS})")
    for b in boxes:
        if not b.width > 0 or not b.height > 0:
            raise SkipImage(f"zero-area box {tuple(b)}")
        if not 1 <= b.label <= 10:
            raise SkipImage(f"label {b.label} outside 1-10")


def rgb(img: Image.Image) -> Image.Image:
    """``img`` in RGB mode (itself when it already is: ``convert`` would copy it)."""
    return img if img.mode == "RGB" else img.convert("RGB")


def crop_union(img: Image.Image, box: Box | None = None,
               size: int = 64) -> np.ndarray:
    """The expanded ``box`` (the whole image when None) as a ``size``x``size``x3 uint8 array."""
    img = rgb(img)
    rect = (0, 0, img.width, img.height) if box is None else expanded_crop(box, img.size)
    return np.asarray(img.crop(rect).resize((size, size), RESAMPLE), dtype=np.uint8)


def capstone_tiles(img: Image.Image, boxes: Sequence[DigitBox], size: int = 32) -> list[np.ndarray]:
    """Each digit box, clipped to the image, as a ``size``x``size`` gray uint8 array (the capstone's tiles)."""
    gray = img.convert("L")
    tiles = []
    for b in boxes:
        x0, y0 = max(0, math.floor(b.left)), max(0, math.floor(b.top))
        x1, y1 = min(gray.width, math.ceil(b.left + b.width)), min(gray.height, math.ceil(b.top + b.height))
        if x1 <= x0 or y1 <= y0:
            raise SkipImage(f"box {tuple(b)} lies outside the {gray.width}x{gray.height} image")
        tiles.append(np.asarray(gray.crop((x0, y0, x1, y1)).resize((size, size), RESAMPLE)))
    return tiles


def crop_capstone(img: Image.Image, boxes: Sequence[DigitBox], size: int = 32) -> np.ndarray:
    """The capstone's digit strip: the ``capstone_tiles`` side by side, resized to 32x32x1."""
    strip = Image.fromarray(np.concatenate(capstone_tiles(img, boxes, size), axis=1))
    return np.asarray(strip.resize((size, size), RESAMPLE), dtype=np.uint8)[:, :, None]


def whole_photo(img: Image.Image, size: int = 64) -> np.ndarray:
    """The whole photo as the localizer reads it: RGB, resized to ``size`` x ``size`` (aspect not kept, so
    box coordinates as fractions of the width and height stay valid)."""
    return np.asarray(rgb(img).resize((size, size), RESAMPLE), dtype=np.uint8)


def crop(img: Image.Image, boxes: Sequence[DigitBox], mode: CropMode = "union") -> np.ndarray:
    """The model input for one annotated photo in the given crop mode (or an alias of one)."""
    mode = crop_mode(mode)
    if mode == "union":
        return crop_union(img, union(boxes))
    if mode == "capstone":
        return crop_capstone(img, boxes)
    if mode == "photo":
        return whole_photo(img)
    if mode == "scene":
        return whole_photo(img, CROP_SHAPES["scene"][0])
    raise NotImplementedError(f"crop mode {mode!r} is listed in CROP_MODES but has no crop here")
