"""Whole-photo evaluation of a store split: what ``predict(photo)`` does for a user, measured.

A store keeps 64x64 crops, but also each row's archive, file name, photo size and digit boxes
(``data.store``). Each row's original photo is read from its archive (``data.photos``), the localizer (led by
the detector, when there is one) finds the number, the reader reads the crop it found; the reading is scored
against the row's label and the box against the union of the row's digit boxes (IoU), overall and by framing
(how tall the number is in the photo: ``FRAMING``), where whole-photo reading wins or loses most. With the full
pipeline, the readings are also counted by the stage that found the chosen box and by why it was chosen
(``by_stage``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from svhn_api import paths
from svhn_api.boxes import corners, iou, union_corners
from svhn_api.data import store
from svhn_api.data.photos import find_archive, original_photo
from svhn_api.errors import DataError, ModelError
from svhn_api.labels import row_to_number

if TYPE_CHECKING:
    from svhn_api.inference.predict import Pipeline, Prediction
    from svhn_api.models.io import LoadedModel, ModelSource

BATCH = 64
# How large the number is in the photo: union-box height / photo height, in these buckets (upper bounds).
FRAMING = ((0.25, "< 0.25"), (0.4, "0.25-0.4"), (0.6, "0.4-0.6"), (float("inf"), "> 0.6"))


def framing_bucket(box_height: float, photo_height: float) -> str:
    share = box_height / max(photo_height, 1e-9)
    return next(name for bound, name in FRAMING if share < bound)


def by_framing(framing: Sequence[str], whole_right: Sequence[bool], ious: Sequence[float] | None,
               boxed_right: Sequence[bool] | None = None) -> list[dict[str, Any]]:
    """Per framing bucket (``FRAMING``): photos, read right whole (and with the true box, when given), the
    found box's IoU (>= 0.5 share, mean; None without ``ious``)."""
    out = []
    for _, name in FRAMING:
        idx = [i for i, f in enumerate(framing) if f == name]
        iou = np.array([ious[i] for i in idx]) if ious is not None else np.array([])
        row = {"framing": name, "count": len(idx), "whole_correct": int(sum(whole_right[i] for i in idx)),
               "found_at_iou_0.5": round(float((iou >= 0.5).mean()), 4) if len(iou) else None,
               "mean_iou": round(float(iou.mean()), 4) if len(iou) else None}
        if boxed_right is not None:
            row["boxed_correct"] = int(sum(boxed_right[i] for i in idx))
        out.append(row)
    return out


def stage(reading: Prediction) -> tuple[str, str] | None:
    """Which stage found a full-pipeline reading's chosen box (``choose.Candidate.source``: "localizer",
    "text-detector", ...) and why it was chosen (``Prediction.chosen_by``); None for a fast-path reading."""
    from svhn_api.inference.choose import choose

    if reading.pipeline != "full" or not reading.candidates:
        return None
    return reading.candidates[choose(reading.candidates).index].source, str(reading.chosen_by)


def by_stage(stages: Sequence[tuple[str, str] | None], right: Sequence[bool]
             ) -> dict[str, dict[str, dict[str, int]]] | None:
    """Per source of the chosen box and per reason (``stage`` of each reading): how many photos, and how many of
    them read right. None when no reading came from the full pipeline."""
    if not any(s is not None for s in stages):
        return None
    out: dict[str, dict[str, dict[str, int]]] = {"source": {}, "reason": {}}
    for found, ok in zip(stages, right, strict=True):
        if found is None:
            continue
        for key, name in zip(("source", "reason"), found, strict=True):
            row = out[key].setdefault(name, {"count": 0, "correct": 0})
            row["count"] += 1
            row["correct"] += int(ok)
    return out


def whole_photo_metrics(reader: LoadedModel, data: store.Source, split: str, indices: np.ndarray,
                        localizer: ModelSource | None = None,
                        on_batch: Callable[[int, int], None] | None = None,
                        boxed_right: np.ndarray | None = None, pipeline: Pipeline | None = None) -> dict[str, Any]:
    """Whole-number accuracy reading each row's original photo whole (the localizer finds the number), and
    the localizer's IoU, overall and ``by_framing``. ``localizer``: a folder, file or loaded model; None: the
    default one (``paths.default_localizer``). ``boxed_right``: whether each row of ``indices`` was read right
    from its stored crop (the true box), for the breakdown. Rows whose archive is not on this machine are
    counted as ``missing``. ``pipeline``: ``predict``'s (None: its default); the result says which ran, and for
    the full pipeline ``by_stage`` counts the readings by the stage that found them."""
    from svhn_api.inference.predict import predict
    from svhn_api.models.io import load

    localizer = localizer if localizer is not None else paths.default_localizer()
    if localizer is None:
        raise ModelError("whole-photo evaluation needs a localizer: give one (--localizer DIR) or install the "
                         "shipped one (artifacts/models/localizer)")
    finder = load(localizer)
    spotter = paths.default_detector()
    rows = store.read(data, split, fields=("labels", "boxes", "sizes", "filenames", "sources"), indices=indices)
    found_at = {s: find_archive(data, s) for s in set(rows["sources"].tolist())}
    archives = {s: a for s, a in found_at.items() if a is not None}
    present = np.array([s in archives for s in rows["sources"]], dtype=bool)
    if not present.any():
        raise DataError(f"{data}: none of its original photos is here (looked for "
                        f"{', '.join(sorted(f'{s}.tar.gz' for s in found_at))} beside the store); whole-photo "
                        "evaluation reads them from the archives the store was prepared from")
    todo = np.flatnonzero(present)
    right: list[bool] = []
    ious: list[float] = []
    unsure: list[bool] = []
    stages: list[tuple[str, str] | None] = []
    ran: set[str] = set()
    for start in range(0, len(todo), BATCH):
        chunk = todo[start:start + BATCH]
        photos = [original_photo(archives[rows["sources"][i]], str(rows["filenames"][i])) for i in chunk]
        readings = predict(photos, model=reader, localizer=finder, detector=spotter or False, pipeline=pipeline)
        stages.extend(stage(r) for r in readings)
        ran.update(r.pipeline for r in readings)
        truth = union_corners(rows["boxes"][chunk])
        found = np.array([corners(r.box) if r.box is not None else (np.nan,) * 4 for r in readings])
        ious.extend(iou(found, truth).tolist())
        right.extend(r.number == row_to_number(rows["labels"][i]) for r, i in zip(readings, chunk, strict=True))
        unsure.extend(r.unsure for r in readings)
        if on_batch is not None:
            on_batch(start + len(chunk), len(todo))
    right_a, iou_a, unsure_a = np.array(right, dtype=np.bool_), np.array(ious), np.array(unsure, dtype=np.bool_)
    kept = np.logical_not(unsure_a)
    truth = union_corners(rows["boxes"][todo])
    heights = np.minimum(truth[:, 3], rows["sizes"][todo, 1]) - np.maximum(truth[:, 1], 0.0)
    framing = [framing_bucket(h, s) for h, s in zip(heights, rows["sizes"][todo, 1], strict=True)]
    return {
        "count": int(len(todo)), "correct": int(right_a.sum()), "missing": int((~present).sum()),
        "whole_photo_accuracy": float(right_a.mean()),
        "mean_iou": float(iou_a.mean()), "found_at_iou_0.5": float((iou_a >= 0.5).mean()),
        "unsure": int(unsure_a.sum()),
        "accuracy_when_sure": float(right_a[kept].mean()) if kept.any() else None,
        "localizer": paths.portable(finder.path),
        "detector": None if spotter is None else paths.portable(spotter),
        "pipeline": "/".join(sorted(ran)), "by_stage": by_stage(stages, right),
        "by_framing": by_framing(framing, right, ious, None if boxed_right is None else boxed_right[todo].tolist()),
    }
