"""The camera's geometry: a homography per number (rotation, shear, perspective), points through it, and
the condensing that gives each digit its sampled aspect after the transform."""

from __future__ import annotations

import numpy as np

from svhn_api.synthetic import fonts
from svhn_api.synthetic.glyphs import Digit


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = pts @ m[:, :2].T + m[:, 2]
    return p[:, :2] / p[:, 2:3]


def ink_points(d: Digit) -> np.ndarray:
    return mask_points(d.ink) + [d.x, d.y]


def sample_geometry(rng: np.random.Generator, tilt: float = 1.0) -> dict:
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


def homography(geo: dict, cx: float, cy: float, w: float, h: float) -> np.ndarray:
    lin = np.eye(3)
    lin[:2, :2] = geo["lin"]
    per = np.eye(3)
    per[2, 0] = geo["persp"][0] / max(w, 1)
    per[2, 1] = geo["persp"][1] / max(h, 1)
    t1 = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    t2 = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]])
    return t2 @ per @ lin @ t1


def mask_points(mask: np.ndarray) -> np.ndarray:
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


def choose_sx(base: list[fonts.Glyph], lin: np.ndarray, targets: list[float], ml: np.ndarray,
               mr: np.ndarray, loose_h: float, grow: float) -> tuple[float, np.ndarray]:
    """The horizontal glyph scale whose transformed, annotated boxes best match the target aspects."""
    cand = np.exp(np.linspace(np.log(0.35), np.log(2.0), 35))
    ex = np.zeros((len(base), len(cand)))
    ey = np.zeros_like(ex)
    for i, g in enumerate(base):
        p = mask_points(g.mask)
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
