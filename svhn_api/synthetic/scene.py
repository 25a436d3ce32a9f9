"""What is around the number: wall textures, doors, windows, posts, sills, lamps, plants and openings, and
letters and signs that carry no number."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from svhn_api.synthetic import fonts, textures
from svhn_api.synthetic.colours import door_color, hsv, pick, texture_colors, wall_color

LETTERS = "ABCDEFHKLMNPRSTabcdehnr"


KIND_WEIGHTS = {"flat": 2.2, "stucco": 1.6, "brick": 1.6, "siding": 1.2, "wood": 1.2, "panels": 1.0,
                "stone": 0.5, "glass": 0.6, "tiles": 0.4, "foliage": 0.15}
FEATURE_REL = {"brick": (0.2, 0.6), "wood": (0.5, 2.0), "siding": (0.35, 1.2), "panels": (2.0, 6.0),
               "stucco": (0.15, 0.8), "flat": (2.0, 8.0), "stone": (0.5, 2.0), "glass": (1.0, 4.0),
               "foliage": (0.3, 1.0), "tiles": (0.5, 1.5)}


def pick_kind(rng: np.random.Generator, exclude: str | None = None) -> str:
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
               main_kind: str, main_colors: Any) -> np.ndarray:
    bg = texture_layer(rng, main_kind, w, h, hb, main_colors)
    ux0, uy0, ux1, uy1 = union
    pad = 0.35 * hb
    for _ in range(int(rng.choice([0, 1, 2, 3], p=[0.3, 0.4, 0.2, 0.1]))):
        side = pick(rng, [(3, "left"), (3, "right"), (1, "top"), (1, "bottom")])
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
        kind = pick_kind(rng, exclude=main_kind) if rng.random() < 0.6 else "flat"
        other = texture_layer(rng, kind, w, h, hb)
        if rng.random() < 0.5:  # a trim/frame strip along the boundary
            tw = hb * rng.uniform(0.08, 0.5)
            sgn = 1 if side in ("right", "bottom") else -1
            strip = region - _soft_region(w, h, side, pos + sgn * tw, tilt)
            strip = np.clip(strip, 0, 1)
            trim = (hsv(0.1, rng.uniform(0, 0.1), rng.uniform(0.75, 0.97)) if rng.random() < 0.6
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
    kind = pick(rng, [(3, "window"), (2, "door"), (2, "post"), (1.5, "sill"), (0.4, "lamp"), (1, "plant"),
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
    trim = hsv(0.1, rng.uniform(0, 0.08), rng.uniform(0.7, 0.97)) if rng.random() < 0.6 else door_color(rng)
    if kind in ("window", "door"):
        fw = max(1, int(hb * rng.uniform(0.08, 0.3)))
        inner = texture_layer(rng, "glass" if kind == "window" else pick(rng, [(2, "panels"), (1, "wood"),
                                                                                (1, "flat")]), rw, rh, hb)
        if kind == "window" and rng.random() < 0.4:  # net curtain / reflection
            inner = inner * 0.5 + hsv(0.1, 0.05, rng.uniform(0.6, 0.9)) * 0.5
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
    col = trim if rng.random() < 0.6 else texture_layer(rng, pick_kind(rng), rw, rh, hb)
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
        col = hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.02, 0.25))
        region[:] = region * (1 - a) + col * a
    elif kind == "plant":
        a = textures._noise(rng, max(2.0, hb * 0.4), (rh, rw))
        a = np.clip((a - 0.45) * 6, 0, 1)[..., None]
        leaves = texture_layer(rng, "foliage", rw, rh, hb)
        region[:] = region * (1 - a) + leaves * a
    else:  # a dark opening
        col = hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.03, 0.25))
        region[:] = region * 0.25 + col * 0.75


def _paste_mask(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, color: np.ndarray) -> None:
    h, w = mask.shape
    H, W = canvas.shape[:2]
    xa, ya, xb, yb = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if xb <= xa or yb <= ya:
        return
    a = mask[ya - y:yb - y, xa - x:xb - x, None].astype(np.float32) / 255.0
    canvas[ya:yb, xa:xb] = canvas[ya:yb, xa:xb] * (1 - a) + color * a


def clutter(rng: np.random.Generator, canvas: np.ndarray, hb: float, union: tuple[float, float, float, float],
            color: np.ndarray,
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
