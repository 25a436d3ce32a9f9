"""Render one synthetic SVHN-style photo: a house number on a wall, door or plate, with its digit boxes.

Coordinates are continuous: pixel ``i`` spans ``[i, i + 1)``. Digits are laid out on a "plane" at the
reference glyph scale (``fonts.REF``), optionally on a plate; the plane is warped onto a background
canvas by one homography (rotation, shear, perspective, scale, translation) and every digit's box is
computed from its own ink pixels mapped through that same homography, then widened the way SVHN's
annotators drew them (one common height per number, slightly loose). The canvas is rendered larger or
smaller than the output and resized to the output size sampled from the real statistics, then
degraded (light, colour, blur, low resolution, noise, JPEG).
"""

from __future__ import annotations

import colorsys
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from svhn_api.data.records import DigitBox
from svhn_api.synthetic import fonts, textures
from svhn_api.synthetic.layout import Layout, sample_layout

LETTERS = "ABCDEFHKLMNPRSTabcdehnr"


# ---- colours -------------------------------------------------------------------------------------
def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))),
                    dtype=np.float32)


def _lum(c: np.ndarray) -> float:
    return float(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])


def _pick(rng: np.random.Generator, options: list[tuple[float, object]]):
    w = np.array([o[0] for o in options], dtype=float)
    return options[int(rng.choice(len(options), p=w / w.sum()))][1]


def wall_color(rng: np.random.Generator) -> np.ndarray:
    kind = _pick(rng, [(6, "light"), (1.5, "mid"), (0.8, "dark"), (1, "colour")])
    if kind == "light":
        r = rng.random()
        if r < 0.2:  # cool white
            return _hsv(rng.uniform(0.55, 0.68), rng.uniform(0.02, 0.12), rng.uniform(0.7, 0.95))
        if r < 0.7:
            return _hsv(rng.uniform(0.07, 0.16), rng.uniform(0.0, 0.2), rng.uniform(0.62, 0.95))
        return _hsv(rng.random(), rng.uniform(0.0, 0.05), rng.uniform(0.62, 0.95))
    if kind == "mid":
        if rng.random() < 0.6:
            return _hsv(rng.uniform(0.05, 0.14), rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.65))
        return _hsv(rng.random(), rng.uniform(0.0, 0.1), rng.uniform(0.35, 0.65))
    if kind == "dark":
        return _hsv(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.1, 0.35))
    return door_color(rng)


def door_color(rng: np.random.Generator) -> np.ndarray:
    return _pick(rng, [
        (3, lambda: _hsv(rng.uniform(0.1, 0.15), rng.uniform(0, 0.1), rng.uniform(0.8, 0.97))),  # white
        (1.5, lambda: _hsv(rng.random(), rng.uniform(0, 0.2), rng.uniform(0.05, 0.2))),  # black
        (1.5, lambda: _hsv(rng.uniform(0.58, 0.68), rng.uniform(0.4, 0.85), rng.uniform(0.2, 0.6))),  # blue
        (1, lambda: _hsv(rng.uniform(0.25, 0.45), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.5))),  # green
        (1, lambda: _hsv(rng.uniform(-0.03, 0.03), rng.uniform(0.45, 0.8), rng.uniform(0.25, 0.6))),  # red
        (1.5, lambda: _hsv(rng.uniform(0.04, 0.1), rng.uniform(0.4, 0.75), rng.uniform(0.15, 0.5))),  # brown
        (1, lambda: _hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.3, 0.65))),  # grey
    ])()


def texture_colors(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Main colour, secondary colour (mortar, seams, lattice) and brightness-modulation amplitude."""
    if kind == "brick":
        c1 = (_hsv(rng.uniform(-0.01, 0.08), rng.uniform(0.3, 0.65), rng.uniform(0.28, 0.62))
              if rng.random() < 0.75 else _hsv(rng.uniform(0.07, 0.13), rng.uniform(0.2, 0.45),
                                                rng.uniform(0.45, 0.8)))
        c2 = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0, 0.2), rng.uniform(0.5, 0.85))
        return c1, c2, rng.uniform(0.3, 0.8)
    if kind == "wood":
        c1 = (_hsv(rng.uniform(0.04, 0.1), rng.uniform(0.35, 0.75), rng.uniform(0.15, 0.55))
              if rng.random() < 0.7 else door_color(rng))
        return c1, c1 * rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.6)
    if kind == "siding":
        c1 = _hsv(rng.random(), rng.uniform(0, 0.1), rng.uniform(0.6, 0.95)) if rng.random() < 0.7 \
            else wall_color(rng)
        return c1, c1 * rng.uniform(0.55, 0.85), rng.uniform(0.3, 0.7)
    if kind == "panels":
        c1 = door_color(rng)
        return c1, np.clip(c1 * rng.uniform(0.55, 1.5), 0, 1), rng.uniform(0.1, 0.4)
    if kind in ("stucco", "flat", "tiles"):
        c1 = wall_color(rng)
        c2 = np.clip(c1 * rng.uniform(0.6, 1.2), 0, 1)
        return c1, c2, (rng.uniform(0.1, 0.45) if kind != "flat" else rng.uniform(0.1, 0.6))
    if kind == "stone":
        c1 = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0, 0.25), rng.uniform(0.35, 0.75))
        return c1, c1 * rng.uniform(0.4, 0.75), rng.uniform(0.3, 0.7)
    if kind == "glass":
        c1 = _hsv(rng.uniform(0.5, 0.68), rng.uniform(0.05, 0.35), rng.uniform(0.08, 0.4))
        c2 = _hsv(0.1, rng.uniform(0, 0.1), rng.uniform(0.05, 0.95))
        return c1, c2, rng.uniform(0.4, 1.0)
    # foliage
    c1 = _hsv(rng.uniform(0.17, 0.36), rng.uniform(0.3, 0.7), rng.uniform(0.12, 0.45))
    return c1, c1, rng.uniform(0.8, 1.4)


def plate_color(rng: np.random.Generator) -> np.ndarray:
    return _pick(rng, [
        (3, lambda: _hsv(rng.uniform(0.08, 0.16), rng.uniform(0, 0.12), rng.uniform(0.8, 0.97))),  # white
        (3, lambda: _hsv(rng.uniform(0.58, 0.7), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7))),  # blue
        (1.5, lambda: _hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.03, 0.2))),  # black
        (1, lambda: _hsv(rng.uniform(0.1, 0.14), rng.uniform(0.35, 0.65), rng.uniform(0.5, 0.8))),  # brass
        (0.6, lambda: _hsv(rng.uniform(0.3, 0.42), rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.5))),  # green
        (0.6, lambda: _hsv(rng.uniform(-0.02, 0.02), rng.uniform(0.5, 0.8), rng.uniform(0.3, 0.6))),  # red
        (1, lambda: _hsv(rng.random(), rng.uniform(0, 0.1), rng.uniform(0.35, 0.65))),  # grey
    ])()


def text_color(rng: np.random.Generator, bg: np.ndarray, spread: float = 0.0) -> np.ndarray:
    """A digit colour readable on ``bg``: mostly dark on light and light on dark, sometimes faint."""
    lb = _lum(bg)
    want = rng.uniform(0.28, 0.65) if rng.random() < 0.9 else rng.uniform(0.16, 0.28)
    want = max(want, min(0.6, 1.5 * spread))  # busy backgrounds (brick, wood) need more contrast
    dark = lb > 0.45 if rng.random() < 0.92 else lb <= 0.45
    if lb - want < 0.03:
        dark = False
    elif lb + want > 0.97:
        dark = True
    if dark:
        c = _pick(rng, [
            (4, lambda: _hsv(rng.random(), rng.uniform(0, 0.25), rng.uniform(0.02, 0.22))),
            (3.5, lambda: _hsv(rng.uniform(0.6, 0.72), rng.uniform(0.4, 0.85), rng.uniform(0.15, 0.45))),
            (1, lambda: _hsv(rng.uniform(0.03, 0.1), rng.uniform(0.4, 0.8), rng.uniform(0.1, 0.35))),
            (0.6, lambda: _hsv(rng.uniform(0.25, 0.45), rng.uniform(0.3, 0.8), rng.uniform(0.1, 0.35))),
            (0.6, lambda: _hsv(rng.uniform(-0.03, 0.03), rng.uniform(0.5, 0.9), rng.uniform(0.25, 0.55))),
        ])()
    else:
        c = _pick(rng, [
            (4, lambda: _hsv(rng.uniform(0.08, 0.16), rng.uniform(0, 0.15), rng.uniform(0.8, 1.0))),
            (2, lambda: _hsv(rng.uniform(0.1, 0.15), rng.uniform(0.35, 0.7), rng.uniform(0.55, 0.9))),
            (1, lambda: _hsv(rng.random(), rng.uniform(0, 0.08), rng.uniform(0.6, 0.85))),
        ])()
    # keep a sampled minimum contrast (real numbers range from crisp to barely visible)
    lt = _lum(c)
    if abs(lt - lb) < want:
        target = lb - want if dark else lb + want
        target = float(np.clip(target, 0.02, 0.98))
        c = np.clip(c * (target / max(lt, 1e-3)) if target < lt else c + (target - lt), 0, 1)
    return c.astype(np.float32)


# ---- glyph masks ---------------------------------------------------------------------------------
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


def _base_glyphs(rng: np.random.Generator, lay: Layout, style: dict) -> list[fonts.Glyph]:
    if style["face"] < 0:
        return [fonts.painted_glyph(str(d), rng, style["stroke_w"], style["slant"]) for d in lay.digits]
    return [fonts.glyph(style["face"], str(d)) for d in lay.digits]


def _make_digits(rng: np.random.Generator, base: list[fonts.Glyph], style: dict) -> list[Digit]:
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


# ---- geometry ------------------------------------------------------------------------------------
def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = pts @ m[:, :2].T + m[:, 2]
    return p[:, :2] / p[:, 2:3]


def _ink_points(d: Digit) -> np.ndarray:
    return _mask_points(d.ink) + [d.x, d.y]


def _sample_geometry(rng: np.random.Generator, tilt: float = 1.0) -> dict:
    """Rotation, shear, vertical squash and perspective of the number's plane (drawn before layout)."""
    big = rng.random() < 0.12
    theta = np.deg2rad(rng.normal(-1.0, (7.0 if big else 4.0) * tilt))
    shear = rng.normal(0, 0.06)
    if rng.random() < 0.08:
        shear += rng.choice([-1, 1]) * rng.uniform(0.08, 0.2)
    sy = float(np.exp(rng.normal(0, 0.06)))
    c, s = np.cos(theta), np.sin(theta)
    lin = np.array([[c, -s], [s, c]]) @ np.array([[1, -shear], [0, sy]])
    persp = (0.0, 0.0)
    if rng.random() < 0.6:
        persp = (float(np.clip(rng.normal(0, 0.12), -0.3, 0.3)), float(np.clip(rng.normal(0, 0.1), -0.25, 0.25)))
    return {"lin": lin, "persp": persp}


def _homography(geo: dict, cx: float, cy: float, w: float, h: float) -> np.ndarray:
    lin = np.eye(3)
    lin[:2, :2] = geo["lin"]
    per = np.eye(3)
    per[2, 0] = geo["persp"][0] / max(w, 1)
    per[2, 1] = geo["persp"][1] / max(h, 1)
    t1 = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    t2 = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]])
    return t2 @ per @ lin @ t1


def _mask_points(mask: np.ndarray) -> np.ndarray:
    """Corners of the first and last ink pixel of every ink row: under any homography the ink's
    extremes are among them (each row segment maps to a segment), so extents computed from these
    points are exact to the pixel."""
    m = mask >= 110
    if not m.any():
        m = mask > 0
    rows = np.nonzero(m.any(1))[0]
    if len(rows) == 0:
        return np.zeros((1, 2))
    sub = m[rows]
    xmin = sub.argmax(1)
    xmax = sub.shape[1] - sub[:, ::-1].argmax(1)
    x = np.concatenate([xmin, xmin, xmax, xmax])
    y = np.concatenate([rows, rows + 1, rows, rows + 1])
    return np.stack([x, y], 1).astype(np.float64)


def _choose_sx(base: list[fonts.Glyph], lin: np.ndarray, targets: list[float], ml: np.ndarray,
               mr: np.ndarray, loose_h: float, grow: float) -> tuple[float, np.ndarray]:
    """The horizontal glyph scale whose transformed, annotated boxes best match the target aspects."""
    cand = np.exp(np.linspace(np.log(0.35), np.log(2.0), 35))
    ex = np.zeros((len(base), len(cand)))
    ey = np.zeros_like(ex)
    for i, g in enumerate(base):
        p = _mask_points(g.mask)
        xs = cand[:, None] * p[None, :, 0]
        tx = lin[0, 0] * xs + lin[0, 1] * p[None, :, 1]
        ty = lin[1, 0] * xs + lin[1, 1] * p[None, :, 1]
        ex[i] = tx.max(1) - tx.min(1) + grow
        ey[i] = ty.max(1) - ty.min(1) + grow
    hbox = ey.max(0) * loose_h
    ar = (ex + (ml + mr)[:, None] * hbox[None, :]) / hbox[None, :]
    loss = ((np.log(np.maximum(ar, 1e-3)) - np.log(np.asarray(targets))[:, None]) ** 2).sum(0)
    best = int(np.argmin(loss))
    # each digit may deviate a little from the common scale (a '1' is narrower in SVHN than in most fonts)
    per = np.clip((np.asarray(targets) / np.maximum(ar[:, best], 1e-3)) ** 1.0, 0.6, 1.4)
    return float(cand[best]), per


# ---- backgrounds ---------------------------------------------------------------------------------
KIND_WEIGHTS = {"flat": 2.2, "stucco": 1.6, "brick": 1.6, "siding": 1.2, "wood": 1.2, "panels": 1.0,
                "stone": 0.5, "glass": 0.6, "tiles": 0.4, "foliage": 0.15}
FEATURE_REL = {"brick": (0.2, 0.6), "wood": (0.5, 2.0), "siding": (0.35, 1.2), "panels": (2.0, 6.0),
               "stucco": (0.15, 0.8), "flat": (2.0, 8.0), "stone": (0.5, 2.0), "glass": (1.0, 4.0),
               "foliage": (0.3, 1.0), "tiles": (0.5, 1.5)}


def _pick_kind(rng: np.random.Generator, exclude: str | None = None) -> str:
    kinds = [k for k in KIND_WEIGHTS if k != exclude and (exclude is not None or k != "foliage")]
    w = np.array([KIND_WEIGHTS[k] for k in kinds])
    return kinds[int(rng.choice(len(kinds), p=w / w.sum()))]


def texture_layer(rng: np.random.Generator, kind: str, w: int, h: int, hb: float,
                  colors: tuple[np.ndarray, np.ndarray, float] | None = None) -> np.ndarray:
    tex, feat = textures.texture(kind, int(rng.integers(textures.VARIANTS)))
    lo, hi = FEATURE_REL[kind]
    z = max(0.3, hb * np.exp(rng.uniform(np.log(lo), np.log(hi))) / feat)  # canvas px per texture px
    cw, ch = int(np.ceil(w / z)) + 2, int(np.ceil(h / z)) + 2
    xs = (int(rng.integers(textures.SIZE)) + np.arange(cw)) % textures.SIZE
    ys = (int(rng.integers(textures.SIZE)) + np.arange(ch)) % textures.SIZE
    crop = tex[ys[:, None], xs[None, :]]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    img = Image.fromarray(np.ascontiguousarray(crop), "LA").resize(
        (w, h), Image.Resampling.BILINEAR, box=(0.5, 0.5, 0.5 + w / z, 0.5 + h / z))
    mv = np.asarray(img, dtype=np.float32) / 255.0
    c1, c2, amp = colors if colors is not None else texture_colors(rng, kind)
    m = mv[..., 0:1]
    v = mv[..., 1:2]
    return ((1 - m) * c1 + m * c2) * (1 + amp * (v - 0.5))


def _soft_region(w: int, h: int, side: str, pos: float, tilt: float, soft: float = 0.7) -> np.ndarray:
    """Alpha of the part of the canvas beyond a (slightly tilted) line; ``pos`` in pixels."""
    if side in ("left", "right"):
        coord = np.arange(w, dtype=np.float32)[None, :] + 0.5 - tilt * (np.arange(h)[:, None] - h / 2)
        a = (coord - pos) / soft if side == "right" else (pos - coord) / soft
    else:
        coord = np.arange(h, dtype=np.float32)[:, None] + 0.5 - tilt * (np.arange(w)[None, :] - w / 2)
        a = (coord - pos) / soft if side == "bottom" else (pos - coord) / soft
    return np.clip(a + 0.5, 0, 1).astype(np.float32)[..., None]


def background(rng: np.random.Generator, w: int, h: int, hb: float, union: tuple[float, float, float, float],
               main_kind: str, main_colors) -> np.ndarray:
    bg = texture_layer(rng, main_kind, w, h, hb, main_colors)
    ux0, uy0, ux1, uy1 = union
    pad = 0.35 * hb
    for _ in range(int(rng.choice([0, 1, 2, 3], p=[0.3, 0.4, 0.2, 0.1]))):
        side = _pick(rng, [(3, "left"), (3, "right"), (1, "top"), (1, "bottom")])
        if side == "left":
            lo, hi = 0.0, ux0 - pad
        elif side == "right":
            lo, hi = ux1 + pad, float(w)
        elif side == "top":
            lo, hi = 0.0, uy0 - pad
        else:
            lo, hi = uy1 + pad, float(h)
        if hi - lo < 2:
            continue
        pos = rng.uniform(lo, hi)
        tilt = rng.normal(0, 0.03)
        region = _soft_region(w, h, side, pos, tilt, soft=rng.uniform(0.5, 1.5))
        kind = _pick_kind(rng, exclude=main_kind) if rng.random() < 0.6 else "flat"
        other = texture_layer(rng, kind, w, h, hb)
        if rng.random() < 0.5:  # a trim/frame strip along the boundary
            tw = hb * rng.uniform(0.08, 0.5)
            sgn = 1 if side in ("right", "bottom") else -1
            strip = region - _soft_region(w, h, side, pos + sgn * tw, tilt)
            strip = np.clip(strip, 0, 1)
            trim = (_hsv(0.1, rng.uniform(0, 0.1), rng.uniform(0.75, 0.97)) if rng.random() < 0.6
                    else wall_color(rng))
            other = other * (1 - strip) + trim * strip * rng.uniform(0.75, 1.0)
        bg = bg * (1 - region) + other * region
    # architecture around the number (doors, windows, posts, sills, lamps, plants): more of it when the
    # photo shows more context around the digits
    ratio = (w * h) / max(1.0, (ux1 - ux0) * (uy1 - uy0))
    lam = float(np.clip(0.4 * np.log(ratio) - 0.1, 0.15, 2.5))
    for _ in range(int(rng.poisson(lam))):
        _element(rng, bg, hb, (ux0 - pad, uy0 - pad, ux1 + pad, uy1 + pad))
    return bg


def _element(rng: np.random.Generator, bg: np.ndarray, hb: float, keep: tuple[float, float, float, float]
             ) -> None:
    """Draw one scene element somewhere that does not cover the ``keep`` box (the number)."""
    h, w = bg.shape[:2]
    kind = _pick(rng, [(3, "window"), (2, "door"), (2, "post"), (1.5, "sill"), (0.4, "lamp"), (1, "plant"),
                       (1, "opening")])
    where = _element_place(rng, kind, w, h, hb, keep)
    if where is None:
        return
    x0, y0, ew, eh = where
    xa, ya, xb, yb = int(max(0, x0)), int(max(0, y0)), int(min(w, x0 + ew)), int(min(h, y0 + eh))
    if xb - xa < 2 or yb - ya < 2:
        return
    rw, rh = xb - xa, yb - ya
    region = bg[ya:yb, xa:xb]
    trim = _hsv(0.1, rng.uniform(0, 0.08), rng.uniform(0.7, 0.97)) if rng.random() < 0.6 else door_color(rng)
    if kind in ("window", "door"):
        fw = max(1, int(hb * rng.uniform(0.08, 0.3)))
        inner = texture_layer(rng, "glass" if kind == "window" else _pick(rng, [(2, "panels"), (1, "wood"),
                                                                                (1, "flat")]), rw, rh, hb)
        if kind == "window" and rng.random() < 0.4:  # net curtain / reflection
            inner = inner * 0.5 + _hsv(0.1, 0.05, rng.uniform(0.6, 0.9)) * 0.5
        frame = np.ones((rh, rw, 1), np.float32)
        ix0, iy0 = int(max(0, x0 + fw) - xa), int(max(0, y0 + fw) - ya)
        ix1, iy1 = int(min(w, x0 + ew - fw) - xa), int(min(h, y0 + eh - fw) - ya)
        if ix1 > ix0 and iy1 > iy0:
            frame[iy0:iy1, ix0:ix1] = 0
            if kind == "window" and rng.random() < 0.5:  # glazing bars
                mx = (ix0 + ix1) // 2
                frame[iy0:iy1, max(ix0, mx - fw // 2):mx + fw // 2 + 1] = 1
        bg[ya:yb, xa:xb] = inner * (1 - frame) + trim * frame
    elif kind in ("post", "sill"):
        _bar(rng, bg, kind, (xa, ya, xb, yb), hb, trim)
    else:
        _patch(rng, region, kind, hb)


def _element_place(rng: np.random.Generator, kind: str, w: int, h: int, hb: float,
                   keep: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
    """``(x0, y0, width, height)`` of an element of ``kind`` clear of ``keep``; None after six tries."""
    if kind == "post":
        ew, eh = hb * rng.uniform(0.2, 1.2), h * rng.uniform(1.0, 1.2)
    elif kind == "sill":
        ew, eh = w * rng.uniform(0.5, 1.2), hb * rng.uniform(0.15, 0.6)
    elif kind == "lamp":
        ew, eh = hb * rng.uniform(0.5, 1.2), hb * rng.uniform(0.8, 1.8)
    else:
        ew, eh = hb * rng.uniform(1.0, 5.0), hb * rng.uniform(1.0, 6.0)
    for _ in range(6):
        x0 = rng.uniform(-ew * 0.7, w - ew * 0.3)
        y0 = rng.uniform(-eh * 0.7, h - eh * 0.3) if kind != "post" else -rng.uniform(0, 0.1) * h
        if x0 > keep[2] or x0 + ew < keep[0] or y0 > keep[3] or y0 + eh < keep[1]:
            return x0, y0, ew, eh
    return None


def _bar(rng: np.random.Generator, bg: np.ndarray, kind: str, rect: tuple[int, int, int, int], hb: float,
         trim: np.ndarray) -> None:
    """A post (shaded across) or a sill (shaded down, with its shadow on the wall below) at ``rect``."""
    h = bg.shape[0]
    xa, ya, xb, yb = rect
    rw, rh = xb - xa, yb - ya
    col = trim if rng.random() < 0.6 else texture_layer(rng, _pick_kind(rng), rw, rh, hb)
    shade = np.linspace(1.0, rng.uniform(0.6, 1.0), rh if kind == "sill" else rw, dtype=np.float32)
    shade = shade[:, None, None] if kind == "sill" else shade[None, :, None]
    bg[ya:yb, xa:xb] = col * shade
    if kind == "sill" and yb < h:  # its shadow on the wall below
        sh = min(h - yb, max(1, int(hb * rng.uniform(0.05, 0.3))))
        bg[yb:yb + sh, xa:xb] *= np.linspace(rng.uniform(0.4, 0.7), 1, sh, dtype=np.float32)[:, None, None]


def _patch(rng: np.random.Generator, region: np.ndarray, kind: str, hb: float) -> None:
    """A lamp, a plant or a dark opening over ``region`` (a view of the background)."""
    rh, rw = region.shape[:2]
    if kind == "lamp":
        m = Image.new("L", (rw, rh), 0)
        ImageDraw.Draw(m).ellipse((0, 0, rw - 1, rh - 1), fill=255)
        a = np.asarray(m, dtype=np.float32)[..., None] / 255.0
        col = _hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.02, 0.25))
        region[:] = region * (1 - a) + col * a
    elif kind == "plant":
        a = textures._noise(rng, max(2.0, hb * 0.4), (rh, rw))
        a = np.clip((a - 0.45) * 6, 0, 1)[..., None]
        leaves = texture_layer(rng, "foliage", rw, rh, hb)
        region[:] = region * (1 - a) + leaves * a
    else:  # a dark opening
        col = _hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.03, 0.25))
        region[:] = region * 0.25 + col * 0.75


def _paste_mask(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, color: np.ndarray) -> None:
    h, w = mask.shape
    H, W = canvas.shape[:2]
    xa, ya, xb, yb = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if xb <= xa or yb <= ya:
        return
    a = mask[ya - y:yb - y, xa - x:xb - x, None].astype(np.float32) / 255.0
    canvas[ya:yb, xa:xb] = canvas[ya:yb, xa:xb] * (1 - a) + color * a


def clutter(rng: np.random.Generator, canvas: np.ndarray, hb: float, union, color: np.ndarray,
            face: int) -> None:
    """Partial letters/digits cut by the image edge and small stray text, never over the number."""
    h, w = canvas.shape[:2]
    ux0, uy0, ux1, uy1 = union
    nfaces = len(fonts.faces())
    if rng.random() < 0.3:
        ch = rng.choice(list(LETTERS)) if rng.random() < 0.7 else str(rng.integers(10))
        f = face if face >= 0 and rng.random() < 0.6 else int(rng.integers(nfaces))
        g = fonts.glyph(f, str(ch))
        size = hb * rng.uniform(0.6, 1.3)
        sc = size / fonts.REF
        gm = g.mask
        nw, nh = max(1, int(gm.shape[1] * sc)), max(1, int(gm.shape[0] * sc))
        m = np.asarray(Image.fromarray(gm).resize((nw, nh), Image.Resampling.BILINEAR))
        vis = rng.uniform(0.15, 0.55) * nw
        left = rng.random() < 0.5
        x = int(vis - nw) if left else int(w - vis)
        y = int(uy0 - 0.3 * hb + rng.random() * (uy1 - uy0 - nh + 0.6 * hb))
        if (left and vis < ux0 - 0.15 * hb) or (not left and w - vis > ux1 + 0.15 * hb):
            _paste_mask(canvas, m, x, y, color if rng.random() < 0.7 else wall_color(rng))
    if rng.random() < 0.1:  # a line of small text (street name, "No.", a second plate)
        size = hb * rng.uniform(0.2, 0.4)
        text = "".join(rng.choice(list(LETTERS), size=int(rng.integers(2, 8))))  # no stray unlabelled digits
        f = int(rng.integers(nfaces))
        ms = []
        for c in text:
            g = fonts.glyph(f, c)
            sc = size / fonts.REF
            ms.append(np.asarray(Image.fromarray(g.mask).resize(
                (max(1, int(g.mask.shape[1] * sc)), max(1, int(g.mask.shape[0] * sc))), Image.Resampling.BILINEAR)))
        total = sum(m.shape[1] for m in ms) + int(0.15 * size) * len(ms)
        below = rng.random() < 0.6
        y = int(uy1 + rng.uniform(0.1, 0.4) * hb) if below else int(uy0 - size - rng.uniform(0.1, 0.4) * hb)
        x = int((ux0 + ux1) / 2 - rng.random() * total)
        if (below and y < h) or (not below and y + size > 0):
            for m in ms:
                _paste_mask(canvas, m, x, y + int(size - m.shape[0]), color)
                x += m.shape[1] + int(0.15 * size)


# ---- style ---------------------------------------------------------------------------------------
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


# ---- the sample ----------------------------------------------------------------------------------
@dataclass
class _Number:
    """One number in the plane, before the camera: its digits, the geometry, the box margins."""

    digits: list[Digit]
    geo: dict
    ml: np.ndarray       # left box margins of the digits, as shares of the box height (annotator looseness)
    mr: np.ndarray       # right box margins
    loose_h: float       # how much taller than the ink the boxes are
    hb: float = 0.0      # the tallest digit in plane units, times ``loose_h``
    pw: int = 0          # the plane's size
    ph: int = 0


@dataclass
class _View:
    """The camera: the plane mapped onto a canvas (``M``), the canvas and output sizes, the boxes on it."""

    M: np.ndarray
    W: int
    H: int
    Wc: int
    Hc: int
    fx: float
    fy: float
    k: float
    hb_out: float
    cboxes: np.ndarray
    hbc: float

    @property
    def cunion(self) -> tuple[float, float, float, float]:
        b = self.cboxes
        return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()


@dataclass
class _Paint:
    """The colours of the number: plate (or None), digits and their outline."""

    plate: np.ndarray | None
    text: np.ndarray
    ring: np.ndarray


def render_sample(rng: np.random.Generator, split: str = "train", *, plain: bool = False
                  ) -> tuple[Image.Image, list[DigitBox]]:
    """One RGB photo and its digit boxes (left to right), everything drawn from ``rng``.

    ``split`` picks the statistics (``test`` frames digits with more context). ``plain=True`` keeps
    the layout and every geometric transform but draws black digits on white with no plate, clutter
    or degradation: the tests use it to check that the boxes sit on the ink.
    """
    lay = sample_layout(rng, split)
    style = sample_style(rng, float(np.median(lay.aspects)) - 0.07)
    num = _sized_digits(rng, lay, style)
    extent = _lay_out(rng, num, lay, style)
    main_kind, plate, shape = _frame(rng, num, extent, style, plain)
    view = _view(rng, num, lay)
    canvas, paint = _ground(rng, view, main_kind, plate, style, plain)
    rgb, alpha = _plane(rng, num, style, paint, shape, plain)
    canvas = _composite(rng, canvas, rgb, alpha, num, view, plain)
    img = Image.fromarray((np.clip(canvas, 0, 1) * 255).round().astype(np.uint8), "RGB")
    if plain:
        img = img.resize((view.W, view.H), Image.Resampling.BOX, reducing_gap=None)
    else:
        img = _degrade(rng, img, view.W, view.H, view.fx, view.hb_out)
    return img, _output_boxes(lay.digits, view)


def _sized_digits(rng: np.random.Generator, lay: Layout, style: dict) -> _Number:
    """The digits' glyphs, condensed to the sampled aspects and thickened to survive the output size, with
    the annotators' looseness and the camera geometry drawn first (the boxes *after* the transform must
    match the targets)."""
    n = len(lay.digits)
    loose_h = 1.0 + abs(rng.normal(0.03, 0.05))
    ml = np.clip(rng.normal(0.035, 0.035, n), -0.02, 0.15)
    mr = np.clip(rng.normal(0.035, 0.035, n), -0.02, 0.15)
    geo = _sample_geometry(rng, lay.tilt)
    lin = geo["lin"]
    base = _base_glyphs(rng, lay, style)
    grow = 2 * max(style["bold"], 0) + 2 * style["ring"]
    sx, per = _choose_sx(base, lin, lay.aspects, ml, mr, loose_h, grow)
    # strokes thick enough to survive the output size (>= ~1-2 px), and condensing (which thins the
    # vertical strokes) partly made up for, by thickening the glyphs
    stroke = style["stroke_w"] * fonts.REF if style["face"] < 0 else fonts.stroke_width(style["face"])
    need = rng.uniform(1.0, 1.8) * fonts.REF / max(1.0, lay.rel_height * lay.height)
    target = max(need, stroke * min(1.0, sx + 0.25))
    now = stroke * min(1.0, sx) + 2 * style["bold"]
    if now < target:
        style["bold"] = min(8, max(0, style["bold"]) + int(np.ceil((target - now) / 2)))
        grow = 2 * style["bold"] + 2 * style["ring"]
        sx, per = _choose_sx(base, lin, lay.aspects, ml, mr, loose_h, grow)
    style["sx"] = sx
    style["sx_digit"] = per
    return _Number(_make_digits(rng, base, style), geo, ml, mr, loose_h)


def _lay_out(rng: np.random.Generator, num: _Number, lay: Layout, style: dict
             ) -> tuple[float, float, float, float]:
    """The digits placed in the plane so that their transformed boxes have the sampled real gaps; returns the
    ink's extent ``(x0, x1, y0, y1)`` in the plane."""
    digits, lin, ml, mr = num.digits, num.geo["lin"], num.ml, num.mr
    pts = [_mask_points(d.ink) for d in digits]
    loc = [p @ lin.T for p in pts]  # transformed ink, before each digit's own offset
    hbox = max(q[:, 1].max() - q[:, 1].min() for q in loc) * num.loose_h
    num.hb = hb = max(d.ink.shape[0] for d in digits) * num.loose_h  # plane units for plate margins and jitter
    ys = [d.top + rng.normal(0, style["vjit"] * lay.tilt) * hb for d in digits]
    xs = [0.0]
    for i in range(len(digits) - 1):
        right = loc[i][:, 0].max() + lin[0, 0] * xs[i] + lin[0, 1] * ys[i] + mr[i] * hbox
        want_left = right + lay.gaps[i] * hbox + ml[i + 1] * hbox  # where the next ink must start
        x_next = (want_left - loc[i + 1][:, 0].min() - lin[0, 1] * ys[i + 1]) / lin[0, 0]
        # digits never touch: an overlap of SVHN boxes means loose boxes, so widen the margins instead
        p_right = xs[i] + pts[i][:, 0].max()
        min_x = p_right + rng.uniform(0.0, 0.05) * hb - pts[i + 1][:, 0].min()
        if x_next < min_x:  # (up to a point; beyond it the gap grows)
            extra = min(0.08, (min_x - x_next) * lin[0, 0] / hbox)
            mr[i] += extra / 2
            ml[i + 1] += extra / 2
            x_next = min_x
        xs.append(float(x_next))
    for d, x, y in zip(digits, xs, ys, strict=True):
        d.x, d.y = x, y
    return (min(d.x for d in digits), max(d.x + d.ink.shape[1] for d in digits),
            min(d.y for d in digits), max(d.y + d.ink.shape[0] for d in digits))


def _frame(rng: np.random.Generator, num: _Number, extent: tuple[float, float, float, float], style: dict,
           plain: bool) -> tuple[str, bool, str | None]:
    """The wall's kind, whether the number sits on a plate and its shape; the plane's margins around the
    ink (``num.pw``, ``num.ph``; the digits moved to whole plane pixels inside them)."""
    x0, x1, y0, y1 = extent
    hb = num.hb
    main_kind = _pick_kind(rng)
    plate = style["plate"] and not plain
    if not plate and not plain and main_kind in ("brick", "stone", "tiles") and rng.random() < 0.6:
        plate = True  # numbers on busy masonry are mostly on a plate
    shape = _pick(rng, [(3, "rect"), (3, "round"), (1, "ellipse")]) if plate else None
    if plate:
        mx = hb * (rng.uniform(0.35, 0.7) if shape == "ellipse" else rng.uniform(0.12, 0.6))
        my = hb * (rng.uniform(0.25, 0.45) if shape == "ellipse" else rng.uniform(0.08, 0.35))
    else:
        mx = my = 0.1 * hb
    ox, oy = mx - x0 + 2, my - y0 + 2
    for d in num.digits:  # whole plane pixels: the masks are pasted there, and the boxes follow them
        d.x = float(round(d.x + ox))
        d.y = float(round(d.y + oy))
    num.pw = int(np.ceil(x1 - x0 + 2 * mx + 4))
    num.ph = int(np.ceil(y1 - y0 + 2 * my + 4))
    return main_kind, plate, shape


def _view(rng: np.random.Generator, num: _Number, lay: Layout) -> _View:
    """The camera: the plane through its homography, each digit's box from its own transformed ink (widened
    as annotated), then the output size and the canvas it is rendered at, the number placed on it."""
    h0 = _homography(num.geo, num.pw / 2, num.ph / 2, num.pw, num.ph)
    inks = [_apply(h0, _ink_points(d)) for d in num.digits]
    ext = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in inks])
    hbox = float((ext[:, 3] - ext[:, 1]).max() * num.loose_h)
    cyb = (ext[:, 1] + ext[:, 3]) / 2 + rng.normal(0, 0.02, len(num.digits)) * hbox
    boxes = np.stack([ext[:, 0] - num.ml * hbox, cyb - hbox / 2, ext[:, 2] + num.mr * hbox, cyb + hbox / 2], 1)
    u = np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])
    W, H = lay.width, lay.height
    hb_out = lay.rel_height * H
    uw_out = (u[2] - u[0]) / hbox * hb_out
    if uw_out > 0.96 * W:
        W = int(np.ceil(uw_out / rng.uniform(0.8, 0.96)))
    hc = rng.uniform(20, 46)  # digit height on the canvas: larger outputs are upsampled, hence soft
    s_c = min(hc / hb_out, np.sqrt(1.6e5 / (W * H)))
    Wc, Hc = max(8, int(round(W * s_c))), max(8, int(round(H * s_c)))
    fx, fy = Wc / W, Hc / H
    k = hb_out * fy / hbox
    uwc, uhc = (u[2] - u[0]) * k, (u[3] - u[1]) * k
    cx = float(np.clip(lay.center[0] * Wc, uwc / 2 + 0.01 * Wc, Wc - uwc / 2 - 0.01 * Wc)) if uwc < 0.98 * Wc \
        else Wc / 2
    cy = float(np.clip(lay.center[1] * Hc, uhc / 2, Hc - uhc / 2)) if uhc < Hc else Hc / 2
    tx, ty = cx - k * (u[0] + u[2]) / 2, cy - k * (u[1] + u[3]) / 2
    S = np.array([[k, 0, tx], [0, k, ty], [0, 0, 1]])
    return _View(S @ h0, W, H, Wc, Hc, fx, fy, k, hb_out, boxes * k + [tx, ty, tx, ty], hbox * k)


def _ground(rng: np.random.Generator, view: _View, main_kind: str, plate: bool, style: dict, plain: bool
            ) -> tuple[np.ndarray, _Paint]:
    """The background canvas first, then the colours of the plate and the digits, chosen against what is
    really under them; the scene's clutter last."""
    cunion = view.cunion
    if plate and rng.random() < 0.5:
        main_kind = _pick(rng, [(2, "brick"), (2, "flat"), (1, "stucco"), (1, "wood"), (1, "siding"),
                                (1, "stone"), (1, "panels")])
    main_colors = texture_colors(rng, main_kind)
    if plain:
        canvas = np.ones((view.Hc, view.Wc, 3), np.float32)
    else:
        canvas = background(rng, view.Wc, view.Hc, view.hbc, cunion, main_kind, main_colors)
    plate_col = None
    if plate:
        plate_col = plate_color(rng)
        under, spread = plate_col, 0.0
    else:
        xa, ya = int(max(0, cunion[0])), int(max(0, cunion[1]))
        xb, yb = int(min(view.Wc, cunion[2] + 1)), int(min(view.Hc, cunion[3] + 1))
        patch = canvas[ya:yb, xa:xb].reshape(-1, 3)
        under = patch.mean(0) if len(patch) else canvas.reshape(-1, 3).mean(0)
        spread = float((patch @ np.array([0.299, 0.587, 0.114], np.float32)).std()) if len(patch) else 0.0
    txt = text_color(rng, under, spread) if not plain else np.zeros(3, np.float32)
    if style["ring"] and not plain:  # outline: contrasting with the digit, or with the ground if hollow
        ring_col = text_color(rng, under, spread) if style["hollow"] else text_color(rng, txt)
    else:
        ring_col = txt
    if not plain:
        clutter(rng, canvas, view.hbc, cunion, txt, style["face"])
    return canvas, _Paint(plate_col, txt, ring_col)


def _plane(rng: np.random.Generator, num: _Number, style: dict, paint: _Paint, shape: str | None, plain: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """The plane as RGB and alpha: plate and digits (transparent parts carry the nearest colour: no fringes)."""
    pw, ph = num.pw, num.ph
    fill_a = np.zeros((ph, pw), np.float32)
    ring_a = np.zeros((ph, pw), np.float32)
    for d in num.digits:
        xi, yi = int(d.x), int(d.y)
        hh, ww = d.fill.shape
        fill_a[yi:yi + hh, xi:xi + ww] = np.maximum(fill_a[yi:yi + hh, xi:xi + ww], d.fill / 255.0)
        if d.ring is not None:
            ring_a[yi:yi + hh, xi:xi + ww] = np.maximum(ring_a[yi:yi + hh, xi:xi + ww], d.ring / 255.0)
    ring_a = ring_a * (1 - fill_a)
    tcol = np.broadcast_to(paint.text, (ph, pw, 3)).astype(np.float32)
    if rng.random() < 0.25 and not plain:  # brass / painted sheen
        g = 1 + rng.uniform(-0.35, 0.35) * (np.linspace(-0.5, 0.5, ph, dtype=np.float32)[:, None, None])
        tcol = np.clip(tcol * g, 0, 1)
    if paint.plate is not None and shape is not None:
        plate_a, rgb = _plate(rng, pw, ph, num.hb, shape, paint.plate, paint.text)
    else:
        plate_a, rgb = np.zeros((ph, pw), np.float32), tcol.copy()
    if style["ring"]:
        rgb = rgb * (1 - ring_a[..., None]) + paint.ring * ring_a[..., None]
    rgb = rgb * (1 - fill_a[..., None]) + tcol * fill_a[..., None]
    return rgb, np.maximum(plate_a, np.maximum(fill_a, ring_a))


def _plate(rng: np.random.Generator, pw: int, ph: int, hb: float, shape: str, colour: np.ndarray,
           text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A plate of ``shape`` filling the plane: its alpha and colour (shaded, maybe with an inner border)."""
    pm = Image.new("L", (pw, ph), 0)
    dr = ImageDraw.Draw(pm)
    box = (1, 1, pw - 2, ph - 2)
    if shape == "rect":
        dr.rectangle(box, fill=255)
    elif shape == "round":
        dr.rounded_rectangle(box, radius=int(min(pw, ph) * rng.uniform(0.08, 0.35)), fill=255)
    else:
        dr.ellipse(box, fill=255)
    plate_a = np.asarray(pm, dtype=np.float32) / 255.0
    pcol = np.broadcast_to(colour, (ph, pw, 3)).astype(np.float32).copy()
    if rng.random() < 0.5:  # shading across the plate
        yy = np.linspace(-0.5, 0.5, ph, dtype=np.float32)[:, None, None]
        pcol = np.clip(pcol * (1 + rng.uniform(-0.3, 0.3) * yy), 0, 1)
    if rng.random() < 0.35:  # inner border line
        bm = Image.new("L", (pw, ph), 0)
        inset = int(max(2, hb * rng.uniform(0.04, 0.1)))
        width = int(max(1, hb * rng.uniform(0.025, 0.06)))
        b2 = (1 + inset, 1 + inset, pw - 2 - inset, ph - 2 - inset)
        bd = ImageDraw.Draw(bm)
        if shape == "ellipse":
            bd.ellipse(b2, outline=255, width=width)
        elif shape == "round":
            bd.rounded_rectangle(b2, radius=int(min(pw, ph) * 0.15), outline=255, width=width)
        else:
            bd.rectangle(b2, outline=255, width=width)
        ba = np.asarray(bm, dtype=np.float32)[..., None] / 255.0
        pcol = pcol * (1 - ba) + text * ba
    return plate_a, pcol


def _composite(rng: np.random.Generator, canvas: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, num: _Number,
               view: _View, plain: bool) -> np.ndarray:
    """The plane warped onto the canvas, with a drop shadow."""
    plane = Image.fromarray((np.dstack([rgb, alpha]) * 255).round().astype(np.uint8), "RGBA")
    if view.k < 0.75:  # shrink the plane with a proper filter first; the warp then only rotates/shears
        pre = view.k * 1.25
        plane = plane.resize((max(1, int(round(num.pw * pre))), max(1, int(round(num.ph * pre)))),
                             Image.Resampling.BOX)
        D = np.diag([plane.width / num.pw, plane.height / num.ph, 1.0])
        Mp = view.M @ np.linalg.inv(D)
    else:
        Mp = view.M
    inv = np.linalg.inv(Mp)
    inv = inv / inv[2, 2]
    warped = plane.transform((view.Wc, view.Hc), Image.Transform.PERSPECTIVE, tuple(inv.flatten()[:8]),
                             Image.Resampling.BILINEAR)
    wa = np.asarray(warped, dtype=np.float32) / 255.0
    a = wa[..., 3:4]
    if rng.random() < 0.4 and not plain:  # cast / drop shadow of the plate or the raised digits
        hbc = view.hbc
        dx = int(round(hbc * rng.uniform(0.02, 0.12) * rng.choice([-1, 1])))
        dy = int(round(hbc * rng.uniform(0.0, 0.12)))
        sh = Image.fromarray((a[..., 0] * 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(max(0.3, hbc * rng.uniform(0.01, 0.08))))
        sa = _shift(np.asarray(sh, dtype=np.float32) / 255.0, dx, dy)
        canvas *= 1 - rng.uniform(0.25, 0.7) * sa[..., None]
    return canvas * (1 - a) + wa[..., :3] * a


def _output_boxes(digits: list[int], view: _View) -> list[DigitBox]:
    """The digit boxes in output pixels: integers, like the official annotations, clipped to the image, one
    common height per number (as annotated in SVHN)."""
    ob = view.cboxes / [view.fx, view.fy, view.fx, view.fy]
    hgt = max(1.0, float(np.round(view.hbc / view.fy)))
    result = []
    for dgt, (bx0, by0, bx1, _) in zip(digits, ob, strict=True):
        left = float(np.clip(np.round(bx0), 0, view.W - 1))
        top = float(np.clip(np.round(by0), 0, view.H - 1))
        right = float(np.clip(np.round(bx1), left + 1, view.W))
        result.append(DigitBox(10 if dgt == 0 else dgt, left, top, right - left, min(hgt, view.H - top)))
    return result


def _degrade(rng: np.random.Generator, img: Image.Image, W: int, H: int, fx: float, digit_h: float
             ) -> Image.Image:
    """Optics and sensor: blur at canvas scale, resize to the output, light/colour/noise, low
    effective resolution and JPEG artefacts, never so strong that a digit is less than ~9 px sharp."""
    sigma_out = min(float(np.exp(rng.normal(np.log(0.55), 0.55))), digit_h / 12)
    if sigma_out * fx > 0.35:
        img = img.filter(ImageFilter.GaussianBlur(sigma_out * fx))
    resample = _pick(rng, [(3, Image.Resampling.BILINEAR), (2, Image.Resampling.BICUBIC),
                           (1, Image.Resampling.LANCZOS), (1, Image.Resampling.BOX)])
    img = img.resize((W, H), resample, reducing_gap=None)
    img = _photometric(rng, img)
    f = min(rng.uniform(1.3, 3.0), digit_h / 9)
    if rng.random() < 0.35 and f > 1.15:  # low effective resolution
        small = img.resize((max(4, int(W / f)), max(4, int(H / f))), Image.Resampling.BILINEAR)
        img = small.resize((W, H), Image.Resampling.NEAREST if rng.random() < 0.1 else Image.Resampling.BILINEAR)
    if rng.random() < 0.6:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(30, 92)))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img


def _shift(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    h, w = a.shape
    out = np.zeros_like(a)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        a[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def _photometric(rng: np.random.Generator, img: Image.Image) -> Image.Image:
    """Uneven light, cast shadows, haze, colour cast, desaturation, gamma and sensor noise.

    Light is a multiplied gradient image, contrast/saturation/cast/offset one affine colour matrix
    and gamma a lookup table, all applied by PIL in C; only the noise is drawn with numpy."""
    w, h = img.size
    yy = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    xx = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    light = 1 + np.float32(rng.normal(0, 0.25)) * xx + np.float32(rng.normal(0, 0.25)) * yy
    if rng.random() < 0.15:  # a cast shadow edge crossing the scene
        ang = rng.uniform(0, np.pi)
        d = np.float32(np.cos(ang) * w) * xx + np.float32(np.sin(ang) * h) * yy \
            - np.float32(rng.uniform(-0.4, 0.4) * max(w, h))
        edge = np.clip(d / np.float32(max(1.0, rng.uniform(0.5, 4.0))) + 0.5, 0, 1)
        light = light * (1 - np.float32(rng.uniform(0.3, 0.6)) * edge)
    light = np.maximum(light, 0.05)
    lmax = float(light.max())
    grad = Image.fromarray(np.round(light * (255 / lmax)).astype(np.uint8), "L")
    img = ImageChops.multiply(img, Image.merge("RGB", (grad, grad, grad)))
    mean = np.asarray(img.resize((1, 1), Image.Resampling.BOX), dtype=np.float64).reshape(3) / 255 * lmax
    contrast = rng.uniform(0.65, 1.1) if rng.random() < 0.85 else rng.uniform(0.4, 0.65)
    lum = np.array([0.299, 0.587, 0.114])
    sat = rng.uniform(0.3, 1.0)
    m_sat = sat * np.eye(3) + (1 - sat) * np.outer(np.ones(3), lum)
    cast = np.exp(rng.normal(0, 0.03, 3))
    if rng.random() < 0.45:
        cast *= np.array([0.93, 0.97, 1.08])  # the bluish tint of many street-view shots
    a = (cast[:, None] * m_sat) * contrast * lmax
    b = (cast * (m_sat @ (mean * (1 - contrast))) + rng.normal(0, 0.05)) * 255
    img = img.convert("RGB", tuple(np.column_stack([a, b]).ravel().tolist()))
    gamma = float(np.exp(rng.normal(0, 0.15)))
    lut = np.round(255 * (np.arange(256) / 255) ** gamma).astype(np.uint8).tolist()
    img = img.point(lut * 3)
    sigma = rng.uniform(0, 0.025) * 255
    if sigma > 0.8:
        noise = rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(sigma) \
            + rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(sigma / 3)
        img = Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).round().astype(np.uint8), "RGB")
    return img
