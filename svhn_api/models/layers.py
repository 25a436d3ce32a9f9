"""The custom layers, in ``keras.ops`` only, so models build, train and predict on every Keras 3 backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from svhn_api.backend import import_keras

keras = import_keras()
ops = keras.ops
Layer: Any = keras.layers.Layer   # Keras is imported at run time (backend.import_keras): Any to type checkers
PACKAGE = "svhn_api"
LUMA = (0.299, 0.587, 0.114)


@keras.saving.register_keras_serializable(package=PACKAGE)
class InputAdapter(Layer):
    """uint8 images -> normalised float32: optional gray, centre crop, resize, then per-image normalisation.

    ``norm="gcn"``: global contrast normalisation, (x - mean) / std over each image (the capstone's; also
    makes the compact model indifferent to exposure). ``norm="scale"``: x / 127.5 - 1 (potterhsu's).
    The crop is always the centre one: training shifts the picture beforehand (``training.augment``),
    which together with the centre crop is the random crop of the papers.
    """

    def __init__(self, crop: int | None = None, size: int | None = None, gray: bool = False,
                 norm: str = "gcn", **kw: Any) -> None:
        super().__init__(autocast=False, **kw)
        if norm not in ("gcn", "scale"):
            raise ValueError(f"norm {norm!r}: choose 'gcn' or 'scale'")
        self.crop, self.size, self.gray, self.norm = crop, size, gray, norm

    def call(self, x: Any) -> Any:
        x = ops.cast(x, "float32")
        if self.gray and x.shape[-1] == 3:
            x = ops.sum(x * ops.convert_to_tensor(LUMA, "float32"), axis=-1, keepdims=True)
        h, w = x.shape[1], x.shape[2]
        if self.crop and (h > self.crop or w > self.crop):
            top, left = (h - self.crop) // 2, (w - self.crop) // 2
            x = x[:, top:top + self.crop, left:left + self.crop, :]
        if self.size and x.shape[1] != self.size:
            if x.shape[1] == 2 * self.size:
                x = ops.average_pool(x, 2, 2, "valid")  # exact 2:1 area resize (64 -> 32)
            else:
                x = ops.image.resize(x, (self.size, self.size), interpolation="bilinear", antialias=False)
        if self.norm == "scale":
            return x / 127.5 - 1.0
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        var = ops.mean(ops.square(x - mean), axis=(1, 2, 3), keepdims=True)
        return (x - mean) / ops.maximum(ops.sqrt(var), 1.0)

    def compute_output_shape(self, s: tuple) -> tuple:
        h, w, c = s[1], s[2], s[3]
        if self.crop:
            h, w = min(h, self.crop), min(w, self.crop)
        if self.size:
            h = w = self.size
        return (s[0], h, w, 1 if self.gray else c)

    def get_config(self) -> dict:
        return {**super().get_config(), "crop": self.crop, "size": self.size, "gray": self.gray, "norm": self.norm}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LocalResponseNorm(Layer):
    """Local response normalisation across channels with TensorFlow's defaults, as the capstone used it:
    ``x / (bias + alpha * sum(x[..., c-r:c+r+1] ** 2)) ** beta``."""

    def __init__(self, depth_radius: int = 5, bias: float = 1.0, alpha: float = 1.0, beta: float = 0.5,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

    def call(self, x: Any) -> Any:
        channels = x.shape[-1]
        near = abs(np.arange(channels)[:, None] - np.arange(channels)[None, :]) <= self.depth_radius
        window = ops.matmul(ops.square(x), ops.convert_to_tensor(near.astype("float32")))  # banded sum over channels
        return x * ops.power(self.bias + self.alpha * window, -self.beta)

    def get_config(self) -> dict:
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta}
