"""The kinds of model, one entry each: everything the library asks about a kind. The model file loader asks
which kind an output shape is and checks a model against it; the trainer asks for an architecture's recipe
and the kind's training task (its targets, loss, decoding and validation score); the card asks what the
output means; the dashboard asks the kind's name and how its validation score reads.

Adding a kind is one ``Kind`` in ``KINDS`` plus its own code: the architecture's builder (named by its
``Recipe``) and its training task (named by ``Kind.training``). Names, not imports, so this module loads
without Keras: the CLI checks an architecture instantly.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from svhn_api.labels import OUTPUT_SHAPE


def _named(ref: str) -> Any:
    """The object ``"package.module:attribute"`` names."""
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Recipe:
    """How an architecture is built and trained by default."""

    build: str                          # "module:function" returning the Keras model for an input shape
    batch_size: int
    optimizer: str                      # "adagrad", "sgd" (momentum 0.9) or "adamw"
    lr: float
    schedule: str                       # "constant", "step" (x decay every decay_steps) or "cosine"
    decay_steps: int = 0
    decay: float = 1.0
    weight_decay: float = 0.0

    def builder(self) -> Any:
        return _named(self.build)


@dataclass(frozen=True)
class Score:
    """A validation score: its name in words, its key in logs, its direction, and how a value reads."""

    name: str
    key: str
    higher_is_better: bool = True
    percent: bool = True        # a share (shown as a percentage), else a mean shown to three decimals

    def shown(self, value: float) -> str:
        return f"{100 * value:.1f}%" if self.percent else f"{value:.3f}"

    def better(self, value: float, best: float | None) -> bool:
        return best is None or (value > best if self.higher_is_better else value < best)


@dataclass(frozen=True)
class Kind:
    """One kind of model."""

    task: str                                   # what it does: "read", "locate", "detect", "classify", ...
    name: str                                   # what it is, in words: "reader", ...
    meaning: str                                # what its output means (its card's ``architecture.output``)
    output: tuple[int, ...] | None = None       # its output per image, when fixed
    stride: int | None = None                   # ... else a map of the input, this many input pixels a cell
    recipes: dict[str, Recipe] = field(default_factory=dict)   # the architectures of this kind trained here
    training: str | None = None                 # "module:attribute" of its ``training.tasks.Task``
    score: Score | None = None                  # what its validation measures
    crops: tuple[str, ...] = ()                 # the store crop modes it trains on

    def output_for(self, input_shape: Sequence[int]) -> tuple[int, ...] | None:
        """Its output per image for images of ``input_shape`` (H, W, C); None for a model not loaded as a
        Keras or ONNX model of this project (the scene-text models)."""
        if self.output is not None:
            return self.output
        if self.stride is not None and len(input_shape) == 3:
            return (int(input_shape[0]) // self.stride, int(input_shape[1]) // self.stride)
        return None

    def task_of_training(self) -> Any:
        """The ``training.tasks.Task`` that trains this kind (an error for a kind not trained here)."""
        if self.training is None:
            raise ValueError(f"a {self.name} is not trained by this project")
        return _named(self.training)


_BUILD = "svhn_api.models.architectures:"

READER = Kind(
    "read", "reader",
    "softmax; row 0 length (0-5, 6 = more than five), rows 1-5 digits (0-9, 10 = no digit)",
    output=OUTPUT_SHAPE,
    recipes={
        # ours: AdamW with warm-up then cosine decay over the planned steps
        "compact": Recipe(_BUILD + "compact", 128, "adamw", 3e-3, "cosine", weight_decay=1e-4),
        # the capstone: Adagrad 0.01, batch 64, constant rate
        "capstone": Recipe(_BUILD + "capstone", 64, "adagrad", 0.01, "constant"),
        # potterhsu: SGD 0.01 momentum 0.9, weight decay 5e-4, x0.9 every 10,000 steps, batch 32
        "deep": Recipe(_BUILD + "deep", 32, "sgd", 0.01, "step", decay_steps=10_000, decay=0.9, weight_decay=5e-4),
    },
    training="svhn_api.training.tasks:READ",
    score=Score("whole-number accuracy", "whole_number_accuracy"),
    crops=("union", "capstone"))
LOCALIZER = Kind(
    "locate", "localizer",
    "sigmoid; the number's union box as (left, top, right, bottom) fractions of the photo",
    output=(4,),
    recipes={"localizer": Recipe(_BUILD + "localizer", 128, "adamw", 3e-3, "cosine", weight_decay=1e-4)},
    training="svhn_api.training.tasks:LOCATE",
    score=Score("mean IoU", "mean_iou", percent=False),
    crops=("photo",))
DETECTOR = Kind(
    "detect", "detector",
    "sigmoid; per 4x4-pixel cell of the photo, the probability that it lies inside the number's union box",
    stride=4,
    recipes={"detector": Recipe(_BUILD + "detector", 64, "adamw", 3e-3, "cosine", weight_decay=1e-4)},
    training="svhn_api.training.tasks:DETECT",
    score=Score("found share (IoU >= 0.5)", "found_share"),
    crops=("scene",))
DIGIT_CLASSIFIER = Kind(
    "classify", "digit classifier", "softmax; the probabilities of the digits 0-9 of one digit's crop",
    output=(10,))
TEXT_DETECTOR = Kind(
    "detect-text", "text detector", "the probability that each pixel is inside the shrunk core of a text line")
TEXT_RECOGNIZER = Kind(
    "recognize-text", "text recognizer", "per step, CTC probabilities of the characters of one text line")

KINDS: dict[str, Kind] = {k.task: k for k in (READER, LOCALIZER, DETECTOR, DIGIT_CLASSIFIER, TEXT_DETECTOR,
                                               TEXT_RECOGNIZER)}
ARCHITECTURES: tuple[str, ...] = tuple(a for k in KINDS.values() for a in k.recipes)
NAMES = {task: k.name for task, k in KINDS.items()}   # what a model doing each task is, in words


def of_architecture(name: str) -> Kind:
    """The kind of architecture ``name``, else a ValueError listing the choices."""
    for kind in KINDS.values():
        if name in kind.recipes:
            return kind
    raise ValueError(f"model {name!r}: choose one of {', '.join(ARCHITECTURES)}")


def recipe(name: str) -> Recipe:
    return of_architecture(name).recipes[name]


def of_shapes(input_shape: Sequence[int], output_shape: Sequence[int]) -> Kind | None:
    """The kind whose output for ``input_shape`` images is ``output_shape``; None when no kind's is."""
    out = tuple(int(v) for v in output_shape)
    for kind in KINDS.values():
        if kind.output_for(input_shape) == out:
            return kind
    return None


def of_output(output_shape: Sequence[int]) -> Kind:
    """The kind of a model from its output per image alone (a card records no input shape for the map):
    a fixed output names its kind, any other a map, so a detector."""
    out = tuple(int(v) for v in output_shape)
    return next((k for k in KINDS.values() if k.output == out), DETECTOR)


def shapes_expected() -> str:
    """What each loadable kind maps its images to, in words, for an error message."""
    return ", ".join(f"(N, {', '.join(map(str, k.output))}) for a {k.name}" if k.output is not None
                     else f"(N, H/{k.stride}, W/{k.stride}) for a {k.name}"
                     for k in KINDS.values() if k.output is not None or k.stride is not None)
