"""Real-photo backgrounds for the renderer: the parts of real street photos around their house number.

Procedural walls lack what real photos show around a number (doors, lamps, bins, real wear and light). A
*bank* holds strips cut from real photos outside their digit boxes (left, right, above and below the number,
with a margin), each with the digit height of its photo, so that the renderer can scale a strip to its own
digits. The bank is an HDF5 file the user builds from photos they may train on; nothing of it ships.

    cut(photo, union_box)             -> strips of one photo, outside its number
    write_bank(path, strips, heights) -> the bank file (atomic)
    load_bank(path)                   -> the bank, cached per process (renderer workers load it once)
    real_layer(rng, bank, w, h, hb)   -> a float canvas from one strip, for ``render.background``
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from svhn_api.atomic import atomic_path
from svhn_api.errors import DataError

MIN_SIDE = 12      # strips narrower or lower than this (pixels) are dropped
MARGIN = 0.15      # ... and cut this share of the number's height away from its box
FORMAT = "svhn-reader backgrounds 1"


@dataclass(frozen=True)
class Bank:
    pixels: np.ndarray    # all strips' uint8 RGB pixels, flattened one after the other
    shapes: np.ndarray    # (N, 2) height, width of each strip
    offsets: np.ndarray   # (N,) where each strip starts in ``pixels``
    heights: np.ndarray   # (N,) digit height (pixels) of the photo each strip comes from

    def __len__(self) -> int:
        return len(self.shapes)

    def strip(self, i: int) -> np.ndarray:
        h, w = (int(v) for v in self.shapes[i])
        start = int(self.offsets[i])
        return self.pixels[start:start + h * w * 3].reshape(h, w, 3)


def cut(photo: Image.Image, union: tuple[float, float, float, float]) -> list[np.ndarray]:
    """The strips of ``photo`` left of, right of, above and below its number (``union``: left, top, width,
    height in pixels), each at least ``MIN_SIDE`` on both sides, none touching the number's box + margin."""
    rgb = np.asarray(photo.convert("RGB"), dtype=np.uint8)
    H, W = rgb.shape[:2]
    left, top, width, height = union
    pad = MARGIN * height
    x0, y0 = int(np.floor(left - pad)), int(np.floor(top - pad))
    x1, y1 = int(np.ceil(left + width + pad)), int(np.ceil(top + height + pad))
    pieces = [rgb[:, :max(0, x0)], rgb[:, min(W, x1):], rgb[:max(0, y0), :], rgb[min(H, y1):, :]]
    return [np.ascontiguousarray(p) for p in pieces if p.shape[0] >= MIN_SIDE and p.shape[1] >= MIN_SIDE]


def write_bank(path: str | os.PathLike[str], strips: list[np.ndarray], heights: list[float]) -> Path:
    """Write ``strips`` (uint8 ``(h, w, 3)``) and their photos' digit heights as a bank file, atomically."""
    if not strips or len(strips) != len(heights):
        raise ValueError(f"{len(strips)} strips and {len(heights)} heights: need one height per strip, and a strip")
    shapes = np.array([s.shape[:2] for s in strips], dtype=np.int32)
    sizes = shapes[:, 0].astype(np.int64) * shapes[:, 1] * 3
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.create_dataset("pixels", data=np.concatenate([s.reshape(-1) for s in strips]).astype(np.uint8))
        f.create_dataset("shapes", data=shapes)
        f.create_dataset("offsets", data=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64))
        f.create_dataset("heights", data=np.asarray(heights, dtype=np.float32))
    return path


def load_bank(path: str | os.PathLike[str]) -> Bank:
    """The bank at ``path`` (loaded once per process while the file is unchanged); ``DataError`` naming the
    file when it is missing or not a bank."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read the backgrounds bank ({e}); build it first") from None
    return _load(os.fspath(path), st.st_mtime_ns, st.st_size)


@cache
def _load(path: str, _mtime_ns: int, _size: int) -> Bank:
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise DataError(f"{path}: not a backgrounds bank (format {f.attrs.get('format')!r}); build it with "
                                "`python -m pipelines.whole_photo` or svhn_api.synthetic.backgrounds.write_bank")
            bank = Bank(f["pixels"][()], f["shapes"][()], f["offsets"][()], f["heights"][()])
    except (OSError, KeyError) as e:
        raise DataError(f"{path}: cannot read the backgrounds bank ({e}); rebuild it") from None
    ends = bank.offsets + bank.shapes[:, 0].astype(np.int64) * bank.shapes[:, 1] * 3
    if len(bank) == 0 or ends.max() > bank.pixels.size or (bank.shapes < 1).any():
        raise DataError(f"{path}: the backgrounds bank is empty or damaged; rebuild it")
    return bank


def real_layer(rng: np.random.Generator, bank: Bank, w: int, h: int, hb: float) -> np.ndarray:
    """A ``(h, w, 3)`` float canvas in [0, 1] from one random strip, scaled so that its photo's digits would
    be about ``hb`` canvas pixels high (less when the strip is too small to cover the canvas), randomly
    mirrored."""
    i = int(rng.integers(len(bank)))
    scale = hb / max(1.0, float(bank.heights[i])) * float(np.exp(rng.uniform(-0.3, 0.3)))
    return _fit(rng, bank.strip(i), w, h, scale)


def _fit(rng: np.random.Generator, strip: np.ndarray, w: int, h: int, scale: float) -> np.ndarray:
    sh, sw = strip.shape[:2]
    cw, ch = w / scale, h / scale               # the strip region that covers the canvas at that scale
    shrink = max(cw / sw, ch / sh, 1.0)         # too small a strip: take all of it that fits, enlarged
    cw, ch = cw / shrink, ch / shrink
    x = rng.uniform(0, max(0.0, sw - cw))
    y = rng.uniform(0, max(0.0, sh - ch))
    img = Image.fromarray(strip[:, ::-1] if rng.random() < 0.5 else strip)
    out = img.resize((w, h), Image.BILINEAR, box=(x, y, x + cw, y + ch))
    return np.asarray(out, dtype=np.float32) / 255.0
