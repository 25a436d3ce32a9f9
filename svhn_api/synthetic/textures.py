"""Procedural wall, door and plate textures, generated with numpy and cached once per process.

Each texture is two uint8 maps of ``SIZE`` x ``SIZE``: ``m`` mixes a main colour with a secondary one
(mortar, seams, lattice, bevels) and ``v`` modulates brightness (grain, per-brick shade, stucco). The
bank is built from fixed seeds, so every worker process holds identical textures.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw

SIZE = 256
VARIANTS = 4


def _noise(rng: np.random.Generator, cell: float, shape: tuple[int, int] = (SIZE, SIZE),
           aspect: float = 1.0) -> np.ndarray:
    """Smooth value noise in [0, 1] with features of about ``cell`` px (stretched ``aspect`` times in y)."""
    gh = max(2, int(shape[0] / (cell * aspect)) + 2)
    gw = max(2, int(shape[1] / cell) + 2)
    grid = Image.fromarray(rng.random((gh, gw)).astype(np.float32), mode="F")
    return np.asarray(grid.resize((shape[1], shape[0]), Image.Resampling.BICUBIC), dtype=np.float32).clip(0, 1)


def _fbm(rng: np.random.Generator, cell: float, octaves: int = 3) -> np.ndarray:
    out = np.zeros((SIZE, SIZE), np.float32)
    amp, tot = 1.0, 0.0
    for _ in range(octaves):
        out += amp * _noise(rng, cell)
        tot += amp
        amp *= 0.5
        cell = max(1.0, cell / 2)
    return out / tot


def _pack(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack([m, v], axis=-1).clip(0, 1).__mul__(255).round().astype(np.uint8)


def brick(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    bh = rng.uniform(14, 22)
    bw = bh * rng.uniform(2.2, 3.3)
    mortar = rng.uniform(1.2, 3.2)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    row = np.floor(y / bh)
    xs = x + (row % 2) * bw / 2
    col = np.floor(xs / bw)
    dy = np.minimum(y - row * bh, (row + 1) * bh - y)
    dx = np.minimum(xs - col * bw, (col + 1) * bw - xs)
    d = np.minimum(dx, dy)
    m = np.clip((mortar - d) / 1.2 + 0.5, 0, 1)
    ids = (row * 97 + col * 13).astype(np.int64) % 1024
    shade = rng.random(1024).astype(np.float32)[ids]
    v = 0.35 + 0.35 * shade + 0.3 * _fbm(rng, 6)
    return _pack(m, v), bh


def wood(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    pw = rng.uniform(18, 40)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    warp = _noise(rng, 40, aspect=4.0) * 6
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (x + warp * 3) / rng.uniform(3, 7))
    plank = np.floor(x / pw)
    shade = rng.random(64).astype(np.float32)[plank.astype(np.int64) % 64]
    v = 0.3 * grain + 0.3 * shade + 0.4 * _noise(rng, 6, aspect=5.0)
    d = np.minimum(x - plank * pw, (plank + 1) * pw - x)
    m = np.clip(1.6 - d, 0, 1)
    return _pack(m, v), pw


def siding(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    bh = rng.uniform(12, 24)
    y = np.mgrid[0:SIZE, 0:SIZE][0].astype(np.float32)
    t = (y % bh) / bh
    v = 0.75 - 0.35 * t**2 + 0.15 * _noise(rng, 30)
    m = np.clip((t - 0.9) * 10, 0, 1)
    return _pack(m, v), bh


def panels(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    img = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(img)
    cols = int(rng.integers(1, 3))
    rows = int(rng.integers(1, 4))
    margin = rng.uniform(10, 24)
    cw = (SIZE - margin * (cols + 1)) / cols
    rh = (SIZE - margin * (rows + 1)) / rows
    bevel = int(rng.integers(2, 6))
    for c in range(cols):
        for r in range(rows):
            x0 = margin + c * (cw + margin)
            y0 = margin + r * (rh + margin)
            draw.rectangle((x0, y0, x0 + cw, y0 + rh), outline=255, width=bevel)
    m = np.asarray(img, dtype=np.float32) / 255
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    v = 0.6 + 0.15 * _noise(rng, 60) + 0.2 * np.sin(x / SIZE * np.pi) * (rng.random() - 0.5)
    return _pack(m, v), 110.0


def stucco(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    v = 0.5 + 0.9 * (_fbm(rng, rng.uniform(2, 8), 3) - 0.5) + 0.4 * (_noise(rng, 50) - 0.5)
    return _pack(np.zeros_like(v), v), 30.0


def flat(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    v = 0.5 + 0.25 * (_noise(rng, 90) - 0.5) + 0.06 * (_noise(rng, 3) - 0.5)
    return _pack(np.zeros_like(v), v), 100.0


def stone(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    n = int(rng.integers(25, 60))
    pts = rng.random((n, 2)).astype(np.float32) * SIZE
    small = 128
    y, x = np.mgrid[0:small, 0:small].astype(np.float32) * (SIZE / small)
    d = np.empty((n, small, small), np.float32)
    for i, (px, py) in enumerate(pts):  # toroidal distance so the texture tiles
        ddx = np.abs(x - px)
        ddy = np.abs(y - py)
        d[i] = np.minimum(ddx, SIZE - ddx) ** 2 + np.minimum(ddy, SIZE - ddy) ** 2
    order = np.argpartition(d, 1, axis=0)[:2]
    owner, second = order[0], order[1]
    d1 = np.take_along_axis(d, order[:1], 0)[0]
    d2 = np.take_along_axis(d, order[1:2], 0)[0]
    sep = np.abs(pts[owner] - pts[second])
    sep = np.sqrt((np.minimum(sep, SIZE - sep) ** 2).sum(-1)) + 1e-3
    edge = (d2 - d1) / (2 * sep)  # distance to the bisector between the two nearest cells
    shade = rng.random(n).astype(np.float32)[owner]
    m_small = np.clip(1.5 - edge / 2, 0, 1)
    m = np.asarray(Image.fromarray(m_small, "F").resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    s = np.asarray(Image.fromarray(shade, "F").resize((SIZE, SIZE), Image.Resampling.NEAREST))
    v = 0.3 + 0.4 * s + 0.3 * _fbm(rng, 5)
    return _pack(m, v), SIZE / np.sqrt(n)


def glass(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    ang = rng.uniform(0.3, 1.2)
    streak = 0.5 + 0.5 * np.sin((x * np.cos(ang) + y * np.sin(ang)) / rng.uniform(15, 50))
    v = 0.35 + 0.4 * streak**3 + 0.25 * _noise(rng, 40)
    m = np.zeros_like(v)
    kind = rng.integers(0, 3)
    if kind == 1:  # diamond leaded lattice
        p = rng.uniform(24, 40)
        a = ((x + y) % p)
        b = ((x - y) % p)
        m = np.clip(1.5 - np.minimum(np.minimum(a, p - a), np.minimum(b, p - b)), 0, 1)
    elif kind == 2:  # window bars
        p = rng.uniform(50, 90)
        a = x % p
        b = y % p
        m = np.clip(3 - np.minimum(np.minimum(a, p - a), np.minimum(b, p - b)), 0, 1)
    return _pack(m, v), 60.0


def foliage(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    n = _fbm(rng, rng.uniform(4, 10), 3)
    v = np.clip((n - 0.5) * 3 + 0.5, 0, 1)
    return _pack(np.zeros_like(v), v), 20.0


def tiles(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    p = rng.uniform(16, 40)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    a, b = x % p, y % p
    m = np.clip(1.5 - np.minimum(np.minimum(a, p - a), np.minimum(b, p - b)), 0, 1)
    ids = (np.floor(x / p) * 31 + np.floor(y / p) * 7).astype(np.int64) % 512
    v = 0.45 + 0.25 * rng.random(512).astype(np.float32)[ids] + 0.3 * _noise(rng, 8)
    return _pack(m, v), p


GENERATORS = {
    "brick": brick, "wood": wood, "siding": siding, "panels": panels, "stucco": stucco, "flat": flat,
    "stone": stone, "glass": glass, "foliage": foliage, "tiles": tiles,
}
KINDS = tuple(GENERATORS)


@cache
def texture(kind: str, variant: int) -> tuple[np.ndarray, float]:
    """The (SIZE, SIZE, 2) uint8 texture ``variant`` of ``kind`` and its feature size in px."""
    rng = np.random.default_rng([KINDS.index(kind), variant, 20240607])
    return GENERATORS[kind](rng)
