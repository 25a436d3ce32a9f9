"""The palette of the synthetic photos: walls, doors, textures, plates, and digit colours that contrast with
what is under them (as house numbers are painted to be read)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))),
                    dtype=np.float32)


def _lum(c: np.ndarray) -> float:
    return float(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])


def pick(rng: np.random.Generator, options: Sequence[tuple[float, T]]) -> T:
    """One option's value, drawn with the options' weights."""
    w = np.array([o[0] for o in options], dtype=float)
    return options[int(rng.choice(len(options), p=w / w.sum()))][1]


def wall_color(rng: np.random.Generator) -> np.ndarray:
    kind = pick(rng, [(6, "light"), (1.5, "mid"), (0.8, "dark"), (1, "colour")])
    if kind == "light":
        r = rng.random()
        if r < 0.2:  # cool white
            return hsv(rng.uniform(0.55, 0.68), rng.uniform(0.02, 0.12), rng.uniform(0.7, 0.95))
        if r < 0.7:
            return hsv(rng.uniform(0.07, 0.16), rng.uniform(0.0, 0.2), rng.uniform(0.62, 0.95))
        return hsv(rng.random(), rng.uniform(0.0, 0.05), rng.uniform(0.62, 0.95))
    if kind == "mid":
        if rng.random() < 0.6:
            return hsv(rng.uniform(0.05, 0.14), rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.65))
        return hsv(rng.random(), rng.uniform(0.0, 0.1), rng.uniform(0.35, 0.65))
    if kind == "dark":
        return hsv(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.1, 0.35))
    return door_color(rng)


def door_color(rng: np.random.Generator) -> np.ndarray:
    return pick(rng, [
        (3, lambda: hsv(rng.uniform(0.1, 0.15), rng.uniform(0, 0.1), rng.uniform(0.8, 0.97))),  # white
        (1.5, lambda: hsv(rng.random(), rng.uniform(0, 0.2), rng.uniform(0.05, 0.2))),  # black
        (1.5, lambda: hsv(rng.uniform(0.58, 0.68), rng.uniform(0.4, 0.85), rng.uniform(0.2, 0.6))),  # blue
        (1, lambda: hsv(rng.uniform(0.25, 0.45), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.5))),  # green
        (1, lambda: hsv(rng.uniform(-0.03, 0.03), rng.uniform(0.45, 0.8), rng.uniform(0.25, 0.6))),  # red
        (1.5, lambda: hsv(rng.uniform(0.04, 0.1), rng.uniform(0.4, 0.75), rng.uniform(0.15, 0.5))),  # brown
        (1, lambda: hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.3, 0.65))),  # grey
    ])()


def texture_colors(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Main colour, secondary colour (mortar, seams, lattice) and brightness-modulation amplitude."""
    if kind == "brick":
        c1 = (hsv(rng.uniform(-0.01, 0.08), rng.uniform(0.3, 0.65), rng.uniform(0.28, 0.62))
              if rng.random() < 0.75 else hsv(rng.uniform(0.07, 0.13), rng.uniform(0.2, 0.45),
                                                rng.uniform(0.45, 0.8)))
        c2 = hsv(rng.uniform(0.05, 0.15), rng.uniform(0, 0.2), rng.uniform(0.5, 0.85))
        return c1, c2, rng.uniform(0.3, 0.8)
    if kind == "wood":
        c1 = (hsv(rng.uniform(0.04, 0.1), rng.uniform(0.35, 0.75), rng.uniform(0.15, 0.55))
              if rng.random() < 0.7 else door_color(rng))
        return c1, c1 * rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.6)
    if kind == "siding":
        c1 = hsv(rng.random(), rng.uniform(0, 0.1), rng.uniform(0.6, 0.95)) if rng.random() < 0.7 \
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
        c1 = hsv(rng.uniform(0.05, 0.15), rng.uniform(0, 0.25), rng.uniform(0.35, 0.75))
        return c1, c1 * rng.uniform(0.4, 0.75), rng.uniform(0.3, 0.7)
    if kind == "glass":
        c1 = hsv(rng.uniform(0.5, 0.68), rng.uniform(0.05, 0.35), rng.uniform(0.08, 0.4))
        c2 = hsv(0.1, rng.uniform(0, 0.1), rng.uniform(0.05, 0.95))
        return c1, c2, rng.uniform(0.4, 1.0)
    # foliage
    c1 = hsv(rng.uniform(0.17, 0.36), rng.uniform(0.3, 0.7), rng.uniform(0.12, 0.45))
    return c1, c1, rng.uniform(0.8, 1.4)


def plate_color(rng: np.random.Generator) -> np.ndarray:
    return pick(rng, [
        (3, lambda: hsv(rng.uniform(0.08, 0.16), rng.uniform(0, 0.12), rng.uniform(0.8, 0.97))),  # white
        (3, lambda: hsv(rng.uniform(0.58, 0.7), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7))),  # blue
        (1.5, lambda: hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.03, 0.2))),  # black
        (1, lambda: hsv(rng.uniform(0.1, 0.14), rng.uniform(0.35, 0.65), rng.uniform(0.5, 0.8))),  # brass
        (0.6, lambda: hsv(rng.uniform(0.3, 0.42), rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.5))),  # green
        (0.6, lambda: hsv(rng.uniform(-0.02, 0.02), rng.uniform(0.5, 0.8), rng.uniform(0.3, 0.6))),  # red
        (1, lambda: hsv(rng.random(), rng.uniform(0, 0.1), rng.uniform(0.35, 0.65))),  # grey
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
        c = pick(rng, [
            (4, lambda: hsv(rng.random(), rng.uniform(0, 0.25), rng.uniform(0.02, 0.22))),
            (3.5, lambda: hsv(rng.uniform(0.6, 0.72), rng.uniform(0.4, 0.85), rng.uniform(0.15, 0.45))),
            (1, lambda: hsv(rng.uniform(0.03, 0.1), rng.uniform(0.4, 0.8), rng.uniform(0.1, 0.35))),
            (0.6, lambda: hsv(rng.uniform(0.25, 0.45), rng.uniform(0.3, 0.8), rng.uniform(0.1, 0.35))),
            (0.6, lambda: hsv(rng.uniform(-0.03, 0.03), rng.uniform(0.5, 0.9), rng.uniform(0.25, 0.55))),
        ])()
    else:
        c = pick(rng, [
            (4, lambda: hsv(rng.uniform(0.08, 0.16), rng.uniform(0, 0.15), rng.uniform(0.8, 1.0))),
            (2, lambda: hsv(rng.uniform(0.1, 0.15), rng.uniform(0.35, 0.7), rng.uniform(0.55, 0.9))),
            (1, lambda: hsv(rng.random(), rng.uniform(0, 0.08), rng.uniform(0.6, 0.85))),
        ])()
    # keep a sampled minimum contrast (real numbers range from crisp to barely visible)
    lt = _lum(c)
    if abs(lt - lb) < want:
        target = lb - want if dark else lb + want
        target = float(np.clip(target, 0.02, 0.98))
        c = np.clip(c * (target / max(lt, 1e-3)) if target < lt else c + (target - lt), 0, 1)
    return c.astype(np.float32)
