"""Decoding images from any source safely: size limits, truncation and non-images give ImageError."""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import TypeAlias

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from svhn_api.errors import ImageError, ImageTooLarge
from svhn_api.paths import check_file

MAX_PIXELS = 40_000_000  # a 40-megapixel photo; anything larger is refused as a possible decompression bomb
MAX_BYTES = 50 * 1024 * 1024
# A photo read whole is read from a copy reduced by the largest whole factor that keeps its longer side at least
# this long (``working``): the localizer looks at 64x64 views of at least a quarter of it, the text detector at
# most 1,280 px of it.
WORKING_SIDE = 1600
ORIGINAL_SIZE = "svhn_original_size"   # a working copy's info: ((original width, height), (its own width, height))


# What can be read: a file's path, its bytes, a PIL image or a numpy array (HxW, HxWx1, HxWx3 or HxWx4).
ImageSource: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | Image.Image | np.ndarray


def input_name(source: object) -> str:
    """A short label naming an input (a path, ``<123 bytes>``, ``<array (H, W, 3) uint8>``) for error messages."""
    if isinstance(source, str | os.PathLike):
        return str(source)
    if isinstance(source, bytes | bytearray):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    return f"<{type(source).__name__}>"


def _from_array(a: np.ndarray, name: str) -> Image.Image:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or min(a.shape[:2]) < 1:
        raise _fail(name, f"an image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise _too_many_pixels(name, f"{a.shape[1]}x{a.shape[0]} pixels")
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        a = np.clip(a * 255.0 if a.max(initial=0) <= 1.0 else a, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def _fail(name: str, why: str) -> ImageError:
    return ImageError(f"{name}: {why}")


def _too_many_pixels(name: str, what: str) -> ImageError:
    return ImageTooLarge(f"{name}: too many pixels: {what} is over the {MAX_PIXELS:,}-pixel limit (a possible "
                         "decompression bomb); resize the photo")


def _factor(size: tuple[int, int]) -> int:
    return max(1, max(size) // WORKING_SIDE)


def _decode(data: bytes, name: str, working: bool = False) -> Image.Image:
    if not data:
        raise _fail(name, "the file is empty; give a PNG or JPEG photo")
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(f"{name}: {len(data):,} bytes is over the {MAX_BYTES:,}-byte limit; resize the photo")
    try:
        with warnings.catch_warnings():
            # Pillow's own warning (over Image.MAX_IMAGE_PIXELS) comes after opening, before any pixel is
            # decoded; our lower MAX_PIXELS check below then refuses the image with its size.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            if opened.width * opened.height > MAX_PIXELS:
                raise _too_many_pixels(name, f"{opened.width}x{opened.height} pixels")
            full = opened.size
            if working and (k := _factor(full)) > 1:   # a JPEG decoded at 1/2, 1/4 or 1/8 (at most 1/k)
                opened.draft(opened.mode, (full[0] // k, full[1] // k))
            opened.load()
            turned = opened.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8)
            ImageOps.exif_transpose(opened, in_place=True)  # phone photos: decode upright, as a browser shows them
            img = _reduced(opened, full[::-1] if turned else full) if working else opened
    except Image.DecompressionBombError as e:  # over twice Pillow's limit: refused inside Image.open
        found = re.search(r"\((\d+) pixels\)", str(e))
        raise _too_many_pixels(name, f"{int(found.group(1)):,} pixels" if found else "the image") from None
    except UnidentifiedImageError as e:
        raise _fail(name, "not a readable image (not in any known image format); give a PNG or JPEG "
                    "photo") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise _fail(name, f"corrupt or truncated image ({e}); re-export or re-download it") from e
    return img


def _reduced(img: Image.Image, full: tuple[int, int]) -> Image.Image:
    """``img``, a photo of ``full`` size (itself, or decoded smaller), as a working copy: reduced further by a
    whole factor (box averages) while its longer side stays at least ``WORKING_SIDE``, its original size
    recorded (``original_size``)."""
    if img.info.get(ORIGINAL_SIZE, (None, None))[1] == img.size:
        return img
    if (k := _factor(img.size)) > 1:
        img = img.reduce(k)
    if img.size != full:
        img.info[ORIGINAL_SIZE] = (full, img.size)
    return img


def original_size(img: Image.Image) -> tuple[int, int]:
    """The size of the photo that ``img`` is a working copy of (``load_image(..., working=True)``); its own size
    when it is none."""
    full, own = img.info.get(ORIGINAL_SIZE, (None, None))
    return tuple(full) if own is not None and tuple(own) == img.size else img.size  # type: ignore[return-value]


def load_image(source: ImageSource, name: str | None = None, working: bool = False) -> Image.Image:
    """Any supported input (path, bytes, PIL image, numpy array) as an RGB PIL image. Errors name the input
    as ``name`` (e.g. an upload's file name), else as ``input_name(source)``. ``working``: for a photo read
    whole, a copy reduced by a whole factor while its longer side stays at least ``WORKING_SIDE`` (a JPEG
    decoded at that size), its original size kept for ``original_size``; a smaller photo as it is."""
    name = name or input_name(source)
    if isinstance(source, Image.Image):
        img = _reduced(source, source.size) if working else source
    elif isinstance(source, np.ndarray):
        img = _from_array(source, name)
        img = _reduced(img, img.size) if working else img
    elif isinstance(source, bytes | bytearray | memoryview):
        img = _decode(bytes(source), name, working)
    elif isinstance(source, str | os.PathLike):
        img = _decode(_read_file(Path(source), name), name, working)
    else:
        raise _fail(name, "unsupported input; give a file path, bytes, a PIL image or a numpy array")
    rgb = to_rgb(img)
    if rgb is not img and ORIGINAL_SIZE in img.info:
        rgb.info[ORIGINAL_SIZE] = img.info[ORIGINAL_SIZE]
    return rgb


def decoded_or_error(source: ImageSource, name: str | None = None, working: bool = False) -> Image.Image | str:
    """``load_image(source)``, or the message of its ``ImageError``: for callers that read every good input
    and report each bad one."""
    try:
        img = load_image(source, name, working)
        img.load()
        return img
    except ImageError as e:
        return str(e)


def _read_file(path: Path, name: str) -> bytes:
    check_file(path, ImageError, "an image file", "give an image file (PNG, JPEG, ...)", name)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ImageTooLarge(f"{name}: the file is over the {MAX_BYTES:,}-byte limit; resize the photo")
        return path.read_bytes()
    except OSError as e:  # e.g. no permission to read it
        raise _fail(name, f"cannot read the file ({e.strerror or e})") from None


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB for every mode: 16-bit and float images are scaled, alpha is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        return Image.fromarray((a * (255.0 / hi)).clip(0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        return Image.fromarray((a * scale).clip(0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
