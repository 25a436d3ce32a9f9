"""A single-digit classifier for 32x32 RGB crops, the CNN of the ``ccexam`` package's ``SVHNNet``, so that
its weights (trained on SVHN format 2, 73,257 real digit crops) can be loaded into Keras.

``SVHNNet`` (ccexam 1.0.0, ``ccexam/models.py``): three blocks of ``[Conv2d 3x3 padding 1 (with bias),
BatchNorm2d, ReLU] x 2, MaxPool2d 2``, channels 32-64-128; flatten (PyTorch's NCHW order); ``Dropout 0.3,
Linear 2048->256, ReLU, Dropout 0.3, Linear 256->10``; logits of digits 0-9. Its input: RGB, 32x32, /255,
normalised with ``MEAN``/``STD`` (``ccexam/constants.py``). Here that normalisation is a ``Rescaling`` layer
inside the model, so the model reads uint8 crops like every model of this project; the output is ``(N, 10)``
softmax probabilities (the layer ``logits`` holds the logits).

The crops it knows are SVHN format 2's: each digit's box extended on its shorter side to a square around
the same centre, resized to 32x32 (``digit_crop``). Only standard Keras layers: the saved model loads on
every Keras 3 backend without this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from svhn_api.errors import ModelError

INPUT_SHAPE = (32, 32, 3)
MEAN = (0.4377, 0.4438, 0.4728)
STD = (0.1980, 0.2010, 0.1970)
CHANNELS = (32, 64, 128)
BN_EPSILON = 1e-5        # PyTorch's BatchNorm2d default
N_DIGITS = 10


def digit_classifier(dropout: float = 0.3, name: str = "digits") -> Any:
    """The Keras model: uint8 ``(N, 32, 32, 3)`` -> ``(N, 10)`` probabilities of the digits 0-9."""
    from svhn_api.backend import import_keras

    keras = import_keras()
    layers = keras.layers
    inp = keras.Input(shape=INPUT_SHAPE, dtype="uint8", name="image")
    std = np.asarray(STD, np.float64)
    x = layers.Rescaling(scale=[float(v) for v in 1.0 / (255.0 * std)],      # (x / 255 - mean) / std
                         offset=[float(v) for v in -np.asarray(MEAN) / std], name="normalize")(inp)
    for b, filters in enumerate(CHANNELS):
        for j in range(2):
            x = layers.Conv2D(filters, 3, padding="same", name=f"block{b}_conv{j}")(x)
            x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, name=f"block{b}_bn{j}")(x)
            x = layers.ReLU(name=f"block{b}_relu{j}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = layers.Flatten(name="features")(x)            # NHWC order: load_state permutes fc1's inputs to match
    x = layers.Dropout(dropout, name="dropout0")(x)
    x = layers.Dense(256, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = layers.Dense(N_DIGITS, name="logits")(x)
    out = layers.Softmax(name="probabilities", dtype="float32")(x)
    return keras.Model(inp, out, name=name)


def _get(state: dict[str, np.ndarray], key: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    if key not in state:
        raise ModelError(f"the state dict has no {key!r}: not ccexam's SVHNNet (it has {sorted(state)[:6]}...)")
    value = np.asarray(state[key])
    if shape is not None and value.shape != shape:
        raise ModelError(f"the state dict's {key!r} has shape {value.shape}, expected {shape}: not the SVHNNet "
                         "this model reproduces")
    return value.astype(np.float32)


def keras_weights(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """SVHNNet's PyTorch state dict as the Keras layers' weights, by layer name: conv OIHW -> HWIO; batch norm
    gamma, beta, moving mean, moving variance; linear (out, in) -> (in, out), with fc1's inputs reordered
    from PyTorch's channel-major (C, H, W) flatten to Keras' (H, W, C) one."""
    out: dict[str, list[np.ndarray]] = {}
    used = set()
    cin = INPUT_SHAPE[2]
    for b, cout in enumerate(CHANNELS):
        for j, (conv, bn) in enumerate(((0, 1), (3, 4))):
            c, n = f"features.{b}.{conv}", f"features.{b}.{bn}"
            w = _get(state, f"{c}.weight", (cout, cin if j == 0 else cout, 3, 3))
            out[f"block{b}_conv{j}"] = [w.transpose(2, 3, 1, 0), _get(state, f"{c}.bias", (cout,))]
            out[f"block{b}_bn{j}"] = [_get(state, f"{n}.{k}", (cout,))
                                      for k in ("weight", "bias", "running_mean", "running_var")]
            used |= {f"{c}.weight", f"{c}.bias", f"{n}.num_batches_tracked",
                     *(f"{n}.{k}" for k in ("weight", "bias", "running_mean", "running_var"))}
        cin = cout
    side = INPUT_SHAPE[0] // 2 ** len(CHANNELS)
    w = _get(state, "classifier.1.weight", (256, cin * side * side))
    w = w.reshape(256, cin, side, side).transpose(2, 3, 1, 0).reshape(side * side * cin, 256)
    out["fc1"] = [w, _get(state, "classifier.1.bias", (256,))]
    out["logits"] = [_get(state, "classifier.4.weight", (N_DIGITS, 256)).T, _get(state, "classifier.4.bias",
                                                                                  (N_DIGITS,))]
    used |= {"classifier.1.weight", "classifier.1.bias", "classifier.4.weight", "classifier.4.bias"}
    extra = sorted(set(state) - used)
    if extra:
        raise ModelError(f"the state dict has entries SVHNNet does not ({extra[:5]}): another architecture")
    return {k: [np.ascontiguousarray(a) for a in v] for k, v in out.items()}


def load_state(model: Any, state: dict[str, np.ndarray]) -> Any:
    """Set ``model``'s (``digit_classifier()``) weights from SVHNNet's PyTorch state dict; returns ``model``."""
    for layer_name, weights in keras_weights(state).items():
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            raise ModelError(f"{model.name}: no layer {layer_name!r}; build the model with digit_classifier()"
                             ) from None
        expected = [tuple(v.shape) for v in layer.weights]
        if expected != [w.shape for w in weights]:
            raise ModelError(f"{model.name}: layer {layer_name!r} holds weights {expected}, the state dict "
                             f"gives {[w.shape for w in weights]}; build the model with digit_classifier()")
        layer.set_weights(weights)
    return model


# Pillow's documented choice where a reduced-then-resampled image is "indistinguishable from fair resampling in most
# cases"; it changes only squares of at least 2 * 3 * 32 = 192 px (a digit taller than the SVHN test photos' tallest).
REDUCING_GAP = 3.0


def square_box(left: float, top: float, width: float, height: float) -> tuple[int, int, int, int]:
    """The box extended on its shorter side to a square with the same centre, as a pixel rectangle
    ``(left, top, right, bottom)`` (may reach outside the photo)."""
    side = max(width, height)
    cx, cy = left + width / 2, top + height / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    return x0, y0, x0 + s, y0 + s


def digit_crop(img: Image.Image, box: Sequence[float], size: int = INPUT_SHAPE[0],
               resample: int = Image.Resampling.BICUBIC) -> np.ndarray:
    """One digit as SVHN format 2 frames it: ``box`` = ``(left, top, width, height)`` made square on its
    longer side, cut from ``img`` (black beyond the photo's edges), resized to ``size`` x ``size`` RGB uint8 (a
    square over ``2 * REDUCING_GAP`` times ``size`` first reduced by box averages: Pillow's ``reducing_gap``)."""
    img = img if img.mode == "RGB" else img.convert("RGB")
    return np.asarray(img.crop(square_box(*box)).resize((size, size), resample, reducing_gap=REDUCING_GAP),
                      dtype=np.uint8)
