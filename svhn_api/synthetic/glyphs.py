"""The digits' look: a style (face, weight, outline, plate) drawn per number, and each digit's fill and
outline masks in the plane."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from svhn_api.synthetic import fonts
from svhn_api.synthetic.layout import Layout


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask
    img = Image.fromarray(np.pad(mask, r))
    return np.asarray(img.filter(ImageFilter.MaxFilter(2 * r + 1)))


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask
    return np.asarray(Image.fromarray(mask).filter(ImageFilter.MinFilter(2 * r + 1)))


class Digit:
    """One digit's masks in the plane: fill and outline ring, placed at (x, y)."""

    def __init__(self, fill: np.ndarray, ring: np.ndarray | None, top: float):
        self.fill = fill
        self.ring = ring
        self.top = top  # ink top relative to the '0' top
        self.x = 0.0
        self.y = 0.0

    @property
    def ink(self) -> np.ndarray:
        return self.fill if self.ring is None else np.maximum(self.fill, self.ring)


def base_glyphs(rng: np.random.Generator, lay: Layout, style: dict) -> list[fonts.Glyph]:
    if style["face"] < 0:
        return [fonts.painted_glyph(str(d), rng, style["stroke_w"], style["slant"]) for d in lay.digits]
    return [fonts.glyph(style["face"], str(d)) for d in lay.digits]


def make_digits(rng: np.random.Generator, base: list[fonts.Glyph], style: dict) -> list[Digit]:
    out = []
    for g, sx in zip(base, style["sx"] * style["sx_digit"], strict=True):
        mask = g.mask
        h, w = mask.shape
        nw = max(1, int(round(w * sx * rng.uniform(0.97, 1.03))))
        if nw != w:
            mask = np.asarray(Image.fromarray(mask).resize((nw, h), Image.Resampling.BILINEAR))
        top = g.top
        r = style["bold"]
        if r > 0:
            mask = _dilate(mask, r)
            top -= r
        elif r < 0:
            mask = _erode(mask, -r)
        ring = None
        if style["ring"] > 0:
            rr = style["ring"]
            big = _dilate(mask, rr)
            mask = np.pad(mask, rr)
            ring = np.clip(big.astype(np.int16) - mask, 0, 255).astype(np.uint8)
            if style["hollow"]:  # outline-only digits
                mask = np.zeros_like(mask)
            top -= rr
        if style["mount_rot"] > 0:
            ang = float(rng.normal(0, style["mount_rot"]))
            hh = mask.shape[0]
            mask = np.asarray(Image.fromarray(mask).rotate(ang, Image.Resampling.BILINEAR, expand=True))
            if ring is not None:
                ring = np.asarray(Image.fromarray(ring).rotate(ang, Image.Resampling.BILINEAR, expand=True))
            top -= (mask.shape[0] - hh) / 2
        out.append(Digit(mask, ring, top))
    return out


def sample_style(rng: np.random.Generator, ink_aspect: float | None = None) -> dict:
    weights = fonts.face_weights(ink_aspect)
    face = int(rng.choice(len(weights), p=weights))
    if face == len(weights) - 1:
        face = -1  # painted stroke font
    italic = face >= 0 and fonts.faces()[face].italic
    bold = 0
    r = rng.random()
    if r < 0.25:
        bold = int(rng.integers(1, 3))
    elif r < 0.28:
        bold = -1
    ring = 0
    if rng.random() < 0.12:
        ring = int(rng.integers(2, 6))
    return {
        "face": face,
        "italic": italic,
        "stroke_w": rng.uniform(0.1, 0.22),
        "slant": rng.normal(0, 0.06),
        "bold": bold,
        "ring": ring,
        "hollow": ring > 0 and rng.random() < 0.1,
        "mount_rot": rng.uniform(2, 7) if rng.random() < 0.1 else 0.0,
        "vjit": 0.06 if rng.random() < 0.1 else 0.025,
        "plate": rng.random() < (0.2 if face < 0 else 0.45),
    }
