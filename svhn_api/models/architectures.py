"""The architectures: three readers, the localizer and the detector. Every model reads uint8 images exactly as
the store holds them. A reader returns one ``(B, 6, 11)`` softmax tensor: row 0 the length head, rows 1-5 the
digit positions (10 = "no digit"); the localizer returns ``(B, 4)``, the number's box in a whole photo; the
detector ``(B, H/4, W/4)``, a map of where the number is in a whole photo.
The six heads are one ``Dense(66)`` reshaped to 6 x 11: the same thing as six linear 11-way heads on the
shared features. Scaling, cropping and normalisation happen inside the model (layer ``InputAdapter``), so
training, evaluation and prediction all feed raw uint8 arrays.

- ``capstone``: the 2016 capstone (32x32 gray + global contrast normalisation, 3 conv 5x5 16/32/64 layers).
- ``deep``: Goodfellow et al. 2013 as reproduced by potterhsu/SVHNClassifier-PyTorch (8 conv layers).
- ``compact``: the shipped CPU reader, depthwise-separable residual blocks (see ``compact``).
- ``localizer``: finds the number in a whole photo (crop mode ``photo``), on the same kind of trunk.
- ``detector``: a map of where the number is in a whole photo (crop mode ``scene``), fully convolutional.

Their recipes (batch size, optimizer, schedule) and what each kind's output means are the registry's
(``models.kinds``). Importing this module imports Keras and its backend; ``svhn_api`` only imports it inside functions.
"""

from __future__ import annotations

from typing import Any

from svhn_api.backend import import_keras
from svhn_api.labels import N_CLASSES, N_HEADS
from svhn_api.models import kinds
from svhn_api.models.layers import InputAdapter, LocalResponseNorm

keras = import_keras()
layers = keras.layers
Model = Any   # keras.Model: Keras is imported at run time (backend.import_keras), so type checkers see Any


def _heads(x: Any) -> Any:
    x = layers.Dense(N_HEADS * N_CLASSES, name="heads")(x)
    x = layers.Reshape((N_HEADS, N_CLASSES), name="logits")(x)
    return layers.Softmax(axis=-1, name="probabilities", dtype="float32")(x)


def _input(shape: tuple[int, ...]) -> Any:
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise ValueError(f"input shape {shape}: expected (H, W, 1) or (H, W, 3)")
    return keras.Input(shape=tuple(shape), dtype="uint8", name="image")


def capstone(input_shape: tuple[int, ...] = (32, 32, 1)) -> Model:
    """The 2016 capstone, faithfully: 32x32 gray, GCN, conv 5x5 16 VALID / 32 SAME / 64 VALID, each with
    ReLU, local response normalisation and 2x2 max pooling (SAME), 2x2x64 = 256 features, six linear heads.

    It is meant for stores prepared with ``crop="capstone"`` (32x32x1). Given a 64x64x3 union store it converts
    inside the model: luminance gray, then an exact 2:1 area resize of the whole crop to 32x32.
    """
    inp = _input(input_shape)
    x = InputAdapter(crop=None, size=32, gray=True, norm="gcn", name="input_adapter")(inp)
    for filters, padding in ((16, "valid"), (32, "same"), (64, "valid")):
        x = layers.Conv2D(filters, 5, padding=padding, activation="relu")(x)
        x = LocalResponseNorm()(x)
        x = layers.MaxPooling2D(2, 2, padding="same")(x)
    x = layers.Flatten(name="features")(x)  # 256
    return keras.Model(inp, _heads(x), name="capstone")


def deep(input_shape: tuple[int, ...] = (64, 64, 3), dropout: float = 0.2) -> Model:
    """Goodfellow et al. 2013 as potterhsu/SVHNClassifier-PyTorch has it: on the 54x54 centre (random at
    training) crop, eight 5x5 conv layers 48-64-128-160-192-192-192-192 each with batch norm, ReLU, 2x2 max
    pooling (padding 1, stride alternating 2/1) and dropout; then 7x7x192 -> 3072 -> 3072 -> heads.
    """
    inp = _input(input_shape)
    x = InputAdapter(crop=54, size=54, norm="scale", name="input_adapter")(inp)
    for i, filters in enumerate((48, 64, 128, 160, 192, 192, 192, 192)):
        x = layers.Conv2D(filters, 5, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.ZeroPadding2D(1)(x)  # after ReLU, zero padding = PyTorch's -inf padding for max pooling
        x = layers.MaxPooling2D(2, strides=2 if i % 2 == 0 else 1)(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten(name="features")(x)
    x = layers.Dense(3072, activation="relu")(x)
    x = layers.Dense(3072, activation="relu")(x)
    return keras.Model(inp, _heads(x), name="deep")


def _sep_block(x: Any, filters: int, stride: int) -> Any:
    """Depthwise 3x3 + pointwise 1x1 with batch norm; residual when the shape is kept."""
    skip = x
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    if stride == 1 and skip.shape[-1] == filters:
        x = layers.Add()([x, skip])
    return layers.ReLU()(x)


def _separable_trunk(x: Any, stages: tuple[tuple[int, int], ...], squeeze: int) -> Any:
    """A 3x3 stride-2 stem, the depthwise-separable ``stages`` (filters, stride), then a 1x1 squeeze to
    ``squeeze`` channels that keeps the layout (where things are) for the dense layers, flattened."""
    x = layers.Conv2D(stages[0][0], 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for filters, stride in stages:
        x = _sep_block(x, filters, stride)
    x = layers.Conv2D(squeeze, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    return layers.Flatten(name="features")(x)


COMPACT_STAGES = ((32, 1), (64, 2), (64, 1), (96, 2), (96, 1), (128, 1), (128, 1))


def compact(input_shape: tuple[int, ...] = (64, 64, 3), crop: int = 54, size: int = 48,
            stages: tuple[tuple[int, int], ...] = COMPACT_STAGES, squeeze: int = 32, hidden: int = 128,
            dropout: float = 0.2) -> Model:
    """The shipped CPU model (~220k parameters): the 54x54 centre (random at training) crop, resized to
    48x48, GCN; a 3x3 stride-2 stem and seven depthwise-separable blocks (two of them stride 2, the others
    residual) down to a 6x6x128 map; a 1x1 squeeze to 32 channels keeps the layout (which digit sits
    where) for a 128-unit dense layer, then the heads.

    Chosen with ``benchmarks/bench_models.py --variants`` on 2 CPU cores: a 48x48 input trains faster than
    54x54, and ending at 6x6 rather than 3x3 keeps the five digit slots apart in the map for a small cost in
    speed (the figures: docs/benchmarks.md, "The compact reader's input size").
    """
    inp = _input(input_shape)
    x = _separable_trunk(InputAdapter(crop=crop, size=size, norm="gcn", name="input_adapter")(inp), stages, squeeze)
    x = layers.Dense(hidden, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model(inp, _heads(x), name="compact")


# The first block at stride 2: about half the previous localizer's cost per look on a CPU, so more epochs fit
# in the same training time, and they gave a better box on the real validation photos (the figures:
# docs/experiments.md, the shipped localizer).
LOCALIZER_STAGES = ((32, 2), (48, 1), (64, 2), (64, 1), (64, 1), (96, 2), (96, 1), (96, 1))


def localizer(input_shape: tuple[int, ...] = (64, 64, 3), stages: tuple[tuple[int, int], ...] = LOCALIZER_STAGES,
              squeeze: int = 16, hidden: int = 128) -> Model:
    """Finds the number in a whole photo (crop mode ``photo``): the 64x64 photo, GCN, a stride-2 stem and
    depthwise-separable blocks down to a 4x4 map, a 1x1 squeeze that keeps where things are, a dense layer,
    and four sigmoids: the union box of the digits as ``(left, top, right, bottom)`` fractions of the photo's
    width and height. Used twice at inference: on the whole photo, then on a crop around its first answer.
    """
    inp = _input(input_shape)
    x = _separable_trunk(InputAdapter(norm="gcn", name="input_adapter")(inp), stages, squeeze)
    x = layers.Dense(hidden, activation="relu")(x)
    box = layers.Dense(4, activation="sigmoid", name="box", dtype="float32")(x)
    return keras.Model(inp, box, name="localizer")


def detector(input_shape: tuple[int, ...] = (128, 128, 3), width: int = 32) -> Model:
    """Where the number is in a whole photo (crop mode ``scene``): for each 4x4-pixel cell of the input, the
    probability that it lies inside the number's union box, as a ``(H/4, W/4)`` map.

    Fully convolutional, so that every part of the photo is judged by the same local evidence: a number a
    tenth of the photo's height is as visible to it as a large one, and a door or a lamp is judged by what it
    looks like, not by being the most salient thing in the photo (the localizer's failure on small numbers).
    Depthwise-separable blocks down to 1/16 for context, then up again (a small feature pyramid) to 1/4.
    """
    inp = _input(input_shape)
    x = InputAdapter(norm="gcn", name="input_adapter")(inp)
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    fine = _sep_block(_sep_block(x, width, 2), width, 1)                             # 1/4
    mid = _sep_block(_sep_block(fine, 2 * width, 2), 2 * width, 1)                   # 1/8
    x = _sep_block(_sep_block(mid, 3 * width, 2), 3 * width, 1)                      # 1/16
    x = _sep_block(x, 3 * width, 1)
    for skip, filters in ((mid, 2 * width), (fine, width)):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([x, skip])
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = _sep_block(x, filters, 1)
    x = layers.Conv2D(1, 1, name="cells")(x)
    logits = layers.Reshape(tuple(x.shape[1:3]), name="map_logits")(x)
    return keras.Model(inp, layers.Activation("sigmoid", name="map", dtype="float32")(logits), name="detector")


def build(name: str, input_shape: tuple[int, ...] = (64, 64, 3), **kw: Any) -> Model:
    """A fresh, untrained model of architecture ``name`` for images of ``input_shape`` (as stored)."""
    return kinds.recipe(name).builder()(tuple(int(v) for v in input_shape), **kw)


def facts(model: Model, meaning: str) -> dict:
    """Architecture facts for the card; ``meaning``: what its output means (the training task's)."""
    return {"name": model.name, "parameters": int(model.count_params()),
            "input": {"shape": list(model.input_shape[1:]), "dtype": "uint8"},
            "output": {"shape": list(model.output_shape[1:]), "meaning": meaning},
            "layers": len(model.layers)}
