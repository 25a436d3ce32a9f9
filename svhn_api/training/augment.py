"""Training-time augmentation as a Keras layer (``keras.ops`` and ``keras.random``: every backend).

A random shift of up to +-5 px (with the model's centre 54x54 crop this is the papers' random crop),
rotation up to +-8 degrees, scale 0.9-1.1, and colour jitter (saturation, per-channel gain, contrast,
brightness). Images stay uint8. Its randomness comes from a ``SeedGenerator`` whose state is a variable
of the training model, so checkpoints carry it and a resumed run draws exactly what it would have drawn.
"""

from __future__ import annotations

import math
from typing import Any

from svhn_api.backend import import_keras

keras = import_keras()
ops = keras.ops
Layer: Any = keras.layers.Layer   # Keras is imported at run time (backend.import_keras): Any to type checkers
MAX_SHIFT, MAX_ROTATE_DEG, SCALE = 5.0, 8.0, (0.9, 1.1)


class Augment(Layer):
    """uint8 ``(B, H, W, 3)`` -> augmented uint8 of the same shape when ``training``; unchanged otherwise."""

    def __init__(self, seed: int = 0, geometric: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.geometric = geometric     # off for the localizer, whose targets would move with the picture
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, shape: tuple, low: float, high: float) -> Any:
        return keras.random.uniform(shape, low, high, seed=self.seed_generator)

    def call(self, images: Any, training: bool = False) -> Any:
        if not training:
            return images
        b = ops.shape(images)[0]
        h, w = images.shape[1], images.shape[2]
        x = ops.cast(images, "float32")
        if self.geometric:
            x = self._warp(x, b, h, w)
        gray = ops.mean(x, axis=-1, keepdims=True)
        x = gray + (x - gray) * self._uniform((b, 1, 1, 1), 0.6, 1.4)                  # saturation
        x = x * self._uniform((b, 1, 1, 3), 0.85, 1.15)                                # colour cast
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        x = mean + (x - mean) * self._uniform((b, 1, 1, 1), 0.7, 1.3) + self._uniform((b, 1, 1, 1), -30.0, 30.0)
        return ops.cast(ops.round(ops.clip(x, 0.0, 255.0)), "uint8")

    def _warp(self, x: Any, b: Any, h: int, w: int) -> Any:
        tx, ty = self._uniform((b,), -MAX_SHIFT, MAX_SHIFT), self._uniform((b,), -MAX_SHIFT, MAX_SHIFT)
        theta = self._uniform((b,), -MAX_ROTATE_DEG, MAX_ROTATE_DEG) * (math.pi / 180)
        scale = self._uniform((b,), *SCALE)
        # output pixel (x, y) samples the input at centre + R(theta) / scale * ((x, y) - centre) - shift
        cx, cy = (w - 1) / 2, (h - 1) / 2
        c, d = ops.cos(theta) / scale, ops.sin(theta) / scale
        zero = ops.zeros_like(c)
        transform = ops.stack([c, -d, cx - c * cx + d * cy - tx, d, c, cy - d * cx - c * cy - ty, zero, zero], axis=1)
        return ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode="reflect")

    def compute_output_shape(self, s: tuple) -> tuple:
        return s
