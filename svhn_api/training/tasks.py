"""What a training run optimises, for each kind of model trained here: the reader (label rows -> six softmax
heads), the localizer (digit boxes -> the number's box in the whole photo) or the detector (digit boxes -> the
map of where the number is). Each kind's registry entry (``models.kinds``) names its task here; ``train``
asks the task for a batch's inputs and targets, the loss, and the validation score; everything else is
shared."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from svhn_api.boxes import iou, union_fractions
from svhn_api.data.store import Source
from svhn_api.errors import DataError
from svhn_api.inference.detect import best_boxes, target_maps
from svhn_api.models import kinds
from svhn_api.models.io import CELL, LoadedModel
from svhn_api.training.loss import Loss


@dataclass(frozen=True)
class Task:
    """What training a kind of model means: the layer it fits, the store fields a batch needs, how a batch
    becomes inputs and targets, its loss and its validation score. What the kind is (its name, crops, score's
    name, output's meaning) is its registry entry's (``kind``)."""

    kind: kinds.Kind
    output: str                 # the layer whose output the trainer fits
    fields: tuple[str, ...]     # the store fields a batch needs
    geometric_augment: bool     # shift/scale the training crops (a reader's); boxes would not follow

    @property
    def name(self) -> str:
        return self.kind.task

    @property
    def score(self) -> kinds.Score:
        assert self.kind.score is not None, self.kind
        return self.kind.score

    @property
    def crops(self) -> tuple[str, ...]:
        return self.kind.crops

    @property
    def meaning(self) -> str:
        return self.kind.meaning

    def targets(self, batch: dict[str, np.ndarray], rng: np.random.Generator | None) -> tuple[Any, Any]:
        """``(images, targets)`` of a store batch; ``rng``: training (random reframing), None: validation."""
        raise NotImplementedError

    def loss(self, kind: Loss) -> Any:
        """The per-example loss ``(targets, outputs) -> (B,)`` the trainer is compiled with."""
        raise NotImplementedError

    def decode(self, out: np.ndarray, none_terms: bool) -> np.ndarray:
        """The answers a batch of the model's outputs gives: label rows ``(N, 6)`` for a reader (joint decoding),
        ``(N, 4)`` boxes (left, top, right, bottom fractions) for a localizer or a detector."""
        raise NotImplementedError

    def validation_score(self, lm: LoadedModel, data: Source, limit: int | None, none_terms: bool) -> float | None:
        """``lm``: the ``models.io.LoadedModel`` of the net being trained, the same one every time, so that its
        inference function is compiled once per run (a new one each epoch: TensorFlow's retracing warnings)."""
        raise NotImplementedError


class _Read(Task):
    def targets(self, batch: dict[str, np.ndarray], rng: np.random.Generator | None) -> tuple[Any, Any]:
        return batch["images"], batch["labels"]

    def loss(self, kind: Loss) -> Any:
        from svhn_api.training.loss import sequence_loss

        return lambda y, z: sequence_loss(y, z, kind)

    def decode(self, out: np.ndarray, none_terms: bool) -> np.ndarray:
        from svhn_api.inference.decode import decode_batch

        return decode_batch(out, none_terms)[0]

    def validation_score(self, lm: LoadedModel, data: Source, limit: int | None, none_terms: bool) -> float | None:
        from svhn_api.inference.evaluate import split_probabilities

        probs, labels = split_probabilities(lm, data, "validation", limit=limit)
        return float(np.all(self.decode(probs, none_terms) == labels, axis=1).mean()) if len(labels) else None


class _Locate(Task):
    keep = 0.35     # the share of photos shown as they are; the rest reframed around the number

    def targets(self, batch: dict[str, np.ndarray], rng: np.random.Generator | None) -> tuple[Any, Any]:
        images, boxes = batch["images"], union_fractions(batch["boxes"], batch["sizes"])
        if rng is not None:
            images, boxes = reframe(images, boxes, rng, keep=self.keep)
        return images, boxes

    def loss(self, kind: Loss) -> Any:
        from svhn_api.training.loss import box_loss

        return box_loss

    def decode(self, out: np.ndarray, none_terms: bool) -> np.ndarray:
        return out

    def validation_score(self, lm: LoadedModel, data: Source, limit: int | None, none_terms: bool) -> float | None:
        from svhn_api.data import store

        predicted, truth = [], []
        for b in store.iter_batches(data, "validation", 256, fields=self.fields, limit=limit):
            predicted.append(self.decode(lm.run(b["images"]), none_terms))
            truth.append(union_fractions(b["boxes"], b["sizes"]))
        return self.summarise(np.nan_to_num(iou(np.concatenate(predicted), np.concatenate(truth))))

    def summarise(self, overlap: np.ndarray) -> float:
        return float(overlap.mean())


class _Detect(_Locate):
    keep = 0.5

    def targets(self, batch: dict[str, np.ndarray], rng: np.random.Generator | None) -> tuple[Any, Any]:
        images, boxes = super().targets(batch, rng)
        if rng is not None:   # windows with no number in them: "no number here"
            images, boxes = elsewhere(images, boxes, rng)
        return images, target_maps(boxes, (images.shape[1] // CELL, images.shape[2] // CELL))

    def loss(self, kind: Loss) -> Any:
        from svhn_api.training.loss import map_loss

        return map_loss

    def decode(self, out: np.ndarray, none_terms: bool) -> np.ndarray:
        return best_boxes(out)

    def summarise(self, overlap: np.ndarray) -> float:
        return float((overlap >= 0.5).mean())


READ = _Read(kinds.READER, "logits", ("images", "labels"), True)
LOCATE = _Locate(kinds.LOCALIZER, "box", ("images", "boxes", "sizes"), False)
DETECT = _Detect(kinds.DETECTOR, "map_logits", ("images", "boxes", "sizes"), False)


def check_store(task: Task, crop: str, data: str | Path, architecture: str) -> None:
    if crop not in task.crops:
        raise DataError(f"{data}: a {crop!r} store, but {architecture} trains on {' or '.join(task.crops)} stores; "
                        f"prepare one with `python -m svhn_api prepare --crop {task.crops[0]}`")


def reframe(images: np.ndarray, boxes: np.ndarray, rng: np.random.Generator,
            keep: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Random framings around the number: each photo (except a share ``keep``) is cut to a window that
    still holds its box, with a random margin, and resized back, so the localizer learns both whole photos
    and the tighter second look it takes at inference."""
    out_x, out_b = images.copy(), boxes.copy()
    size = images.shape[1]
    for i in np.flatnonzero(rng.random(len(images)) >= keep):
        x0, y0, x1, y1 = boxes[i]
        cw = rng.uniform(min(1.0, (x1 - x0) * 1.1 + 0.02), 1.0)
        ch = rng.uniform(min(1.0, (y1 - y0) * 1.1 + 0.02), 1.0)
        left = _between(rng, x1 - cw, min(x0, 1.0 - cw))
        top = _between(rng, y1 - ch, min(y0, 1.0 - ch))
        window = (left * size, top * size, (left + cw) * size, (top + ch) * size)
        out_x[i] = np.asarray(Image.fromarray(images[i]).resize((size, size), Image.Resampling.BILINEAR, box=window))
        out_b[i] = np.clip([(x0 - left) / cw, (y0 - top) / ch, (x1 - left) / cw, (y1 - top) / ch], 0.0, 1.0)
    return out_x, out_b


def elsewhere(images: np.ndarray, boxes: np.ndarray, rng: np.random.Generator,
              share: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A ``share`` of the photos replaced by a window of them (a third to two thirds of the photo each way)
    that does not touch the number, resized back, with a NaN box: the detector learns "no number here" from
    the doors, walls and signs around real numbers."""
    out_x, out_b = images.copy(), boxes.copy()
    size = images.shape[1]
    for i in np.flatnonzero(rng.random(len(images)) < share):
        x0, y0, x1, y1 = boxes[i]
        for _ in range(5):
            cw, ch = rng.uniform(1 / 3, 2 / 3, size=2)
            left, top = rng.uniform(0, 1 - cw), rng.uniform(0, 1 - ch)
            if left >= x1 or left + cw <= x0 or top >= y1 or top + ch <= y0:
                window = (left * size, top * size, (left + cw) * size, (top + ch) * size)
                out_x[i] = np.asarray(Image.fromarray(images[i]).resize((size, size), Image.Resampling.BILINEAR,
                                                                        box=window))
                out_b[i] = np.nan
                break
    return out_x, out_b


def _between(rng: np.random.Generator, low: float, high: float) -> float:
    """A uniform draw in [low, high] within [0, 1] (the bounds may cross by rounding: then ``low``)."""
    low = max(0.0, low)
    return float(rng.uniform(low, max(low, high)))
