"""Optics and sensor: blur, resampling to the output size, light, colour, noise and JPEG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from svhn_api.synthetic.colours import pick


def degrade(rng: np.random.Generator, img: Image.Image, W: int, H: int, fx: float, digit_h: float
             ) -> Image.Image:
    """Optics and sensor: blur at canvas scale, resize to the output, light/colour/noise, low
    effective resolution and JPEG artefacts, never so strong that a digit is less than ~9 px sharp."""
    sigma_out = min(float(np.exp(rng.normal(np.log(0.55), 0.55))), digit_h / 12)
    if sigma_out * fx > 0.35:
        img = img.filter(ImageFilter.GaussianBlur(sigma_out * fx))
    resample = pick(rng, [(3, Image.Resampling.BILINEAR), (2, Image.Resampling.BICUBIC),
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


def shift(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
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
