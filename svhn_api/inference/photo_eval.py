"""Whole-number accuracy on a list of photos with known numbers (real SVHN images, a user's own photos).

Unlike ``evaluate()``, which reads a prepared store, this goes through ``predict()`` exactly as a user
would: original photo in, optional number box, reading out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svhn_api import paths
from svhn_api.boxes import Box, box_iou, union
from svhn_api.inference import whole_photo_eval
from svhn_api.inference.evaluate import framing_line
from svhn_api.models.folder import ModelFolder

if TYPE_CHECKING:
    from svhn_api.data.images import ImageSource
    from svhn_api.inference.predict import Pipeline
    from svhn_api.models.io import LoadedModel, ModelOption, ModelSource


@dataclass(frozen=True)
class PhotoEvaluation:
    """What ``evaluate_photos`` measured: the reader (and digit classifier) and the pipeline that read, the
    photos (``data``: name, split, kind, crop, count), the figures (``metrics``: whole-number accuracy,
    correct, count, sure, right when sure, seconds a photo, and with the true boxes the found boxes' IoU),
    when, and one row per photo (truth, reading, confidence, box, unsure, chosen by, seconds, IoU)."""

    model: str
    pipeline: str
    data: dict[str, Any]
    metrics: dict[str, Any]
    evaluated: str
    rows: list[dict[str, Any]]
    digits: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able report, in the order a model card records it (``digits`` only when one was used)."""
        out = asdict(self)
        order = ("model", "pipeline", "digits", "data", "metrics", "evaluated", "rows")
        return {k: out[k] for k in order if k != "digits" or self.digits is not None}

    def card_record(self) -> dict[str, Any]:
        """What a model card's ``evaluations`` keep of it: all but the rows."""
        return {k: v for k, v in self.to_dict().items() if k != "rows"}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)


def evaluate_photos(images: Sequence[ImageSource], numbers: Sequence[str], boxes: Sequence[Box | None] | None = None,
                    *, model: ModelSource | None = None, data: dict[str, Any] | None = None, batch: int = 64,
                    record: bool = False, localizer: ModelOption = False, detector: ModelOption = None,
                    digits: ModelOption = None, truth_boxes: Sequence[Box] | None = None,
                    pipeline: Pipeline | None = None) -> PhotoEvaluation:
    """Accuracy of the model's readings of ``images`` against ``numbers``.

    ``data`` describes the images for the record (e.g. ``{"name": ..., "split": "test", "kind": "real SVHN",
    "crop": "ground-truth union box +30%"}``); with ``record`` the result is appended to the model card.
    Without ``boxes``, ``localizer`` and ``detector`` (as ``predict`` takes them; localizer False: the whole
    image) find the number; ``digits``: the digit classifier joined with the reader (as ``predict`` takes it);
    with ``truth_boxes`` the mean IoU of the boxes it found is reported too; ``pipeline``: as ``predict`` takes
    it. Each row records its time (the batch's seconds per photo), and with the full pipeline why it was chosen.
    """
    import time

    from svhn_api.inference.predict import default_pipeline, predict
    from svhn_api.models import io as model_io
    from svhn_api.models import provenance

    if len(images) != len(numbers) or (boxes is not None and len(boxes) != len(images)):
        raise ValueError("images, numbers and boxes must have the same length")
    lm = model_io.load(model)
    preds: list[Any] = []
    seconds: list[float] = []
    pipeline = pipeline or default_pipeline()
    for i in range(0, len(images), batch):
        t0 = time.perf_counter()
        preds += predict(list(images[i:i + batch]), model=lm,
                         boxes=None if boxes is None else list(boxes[i:i + batch]), localizer=localizer,
                         detector=detector, digits=digits, pipeline=pipeline)
        seconds += [(time.perf_counter() - t0) / len(images[i:i + batch])] * len(images[i:i + batch])
    rows: list[dict[str, Any]] = [{"truth": t, "prediction": p.number, "confidence": round(p.confidence, 4),
                                   "correct": p.number == t, "box": p.box, "unsure": p.unsure,
                                   "chosen_by": p.chosen_by, "seconds": s}
                                  for t, p, s in zip(numbers, preds, seconds, strict=True)]
    classifier = paths.default_digits() if digits is None else digits
    used = (paths.portable(model_io.load(classifier).path) if classifier is not None and classifier is not False
            else None)
    right = sum(r["correct"] for r in rows)
    sure = [r for r in rows if not r["unsure"]]
    metrics: dict[str, Any] = {"whole_number_accuracy": round(right / len(rows), 6) if rows else None,
                               "correct": right, "count": len(rows), "sure": len(sure),
                               "right_when_sure": (round(sum(r["correct"] for r in sure) / len(sure), 6)
                                                   if sure else None),
                               "seconds_per_photo": round(float(np.mean(seconds)), 5) if seconds else None}
    if truth_boxes is not None and all(p.located for p in preds):
        ious = [box_iou(p.box, t) for p, t in zip(preds, truth_boxes, strict=True)]
        for r, iou in zip(rows, ious, strict=True):
            r["iou"] = round(iou, 4)
        metrics["mean_iou"] = round(float(np.mean(ious)), 4)
        metrics["found_at_iou_0.5"] = round(float(np.mean(np.array(ious) >= 0.5)), 6)
    report = PhotoEvaluation(paths.portable(lm.path), pipeline, {**(data or {}), "count": len(rows)}, metrics,
                             provenance.now(), rows, used)
    if record:
        record_in_card(lm, report)
    return report


def record_in_card(model: LoadedModel, report: PhotoEvaluation) -> None:
    """Append ``report`` (less its rows) to the card of ``model`` (a loaded model), when it has one."""
    from svhn_api.models import card as cards

    if model.folder is not None and ModelFolder(model.folder).has_card():
        cards.add_evaluation(model.folder, report.card_record())


def framing_of_reports(framing: Sequence[str], boxed: PhotoEvaluation, whole: PhotoEvaluation,
                       ) -> list[dict[str, Any]]:
    """``whole_photo_eval.by_framing`` from ``evaluate_photos``' reports of the same photos with and without the box."""
    ious = [r["iou"] for r in whole.rows] if all("iou" in r for r in whole.rows) else None
    return whole_photo_eval.by_framing(framing, [r["correct"] for r in whole.rows], ious,
                                  [r["correct"] for r in boxed.rows])


def annotated_photos(images_dir: str | Path, annotations: str | Path, only: set[str] | None = None,
                     ) -> tuple[list[Path], list[str], list[Box], list[str]]:
    """The PNG photos of a folder (those named in ``only``, if given) with their numbers, union boxes and
    framing buckets (``whole_photo_eval.FRAMING``) from an annotations JSON (a list of ``{filename, number,
    image_height, boxes: [{label, left, top, width, height}]}``, the layout of ``svhn-real``)."""
    from svhn_api.records import DigitBox

    ann = {a["filename"]: a for a in json.loads(Path(annotations).read_text())}
    files = sorted((p for p in Path(images_dir).glob("*.png") if only is None or p.name in only),
                   key=lambda p: (len(p.stem), p.stem))
    numbers, boxes, framing = [], [], []
    for p in files:
        a = ann[p.name]
        numbers.append(a["number"])
        left, top, width, height = union([DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"])
                                              for b in a["boxes"]])
        x0, y0 = max(0.0, left), max(0.0, top)   # some official boxes run past the edge: clipped, as prepare does
        x1, y1 = min(float(a["image_width"]), left + width), min(float(a["image_height"]), top + height)
        boxes.append((x0, y0, x1 - x0, y1 - y0))
        framing.append(whole_photo_eval.framing_bucket(y1 - y0, float(a["image_height"])))
    return files, numbers, boxes, framing


def photo_sets(root: str | Path, split: str | Path | None = None,
               ) -> dict[str, tuple[list[Path], list[str], list[Box], list[str], str, str]]:
    """The real photo sets beside the checkout, by key: ``test`` (every test photo), and with ``split`` (a
    ``split.json`` of ``pipelines.whole_photo``) ``validation`` (its held-out train photos) and
    ``reframed_validation`` (their zoomed-out copies, ``reframed/`` beside it, when made). Each: photos,
    numbers, true union boxes, framing buckets, a name and the folder, relative to the checkout."""
    root = Path(root)
    where = os.path.relpath(root, paths.CHECKOUT or Path.cwd())
    photos, numbers, boxes, framing = annotated_photos(root / "images" / "test", root / "annotations" / "test.json")
    out = {"test": (photos, numbers, boxes, framing,
                    f"real SVHN test photos ({len(photos)}: {', '.join(p.stem for p in photos[:3])}, ...)",
                    f"{where}/images/test")}
    if split is None:
        return out
    held = set(json.loads(Path(split).read_text())["validation"])
    photos, numbers, boxes, framing = annotated_photos(root / "images" / "train", root / "annotations" / "train.json",
                                                       only=held)
    out["validation"] = (photos, numbers, boxes, framing, f"real SVHN validation photos ({len(photos)} train-split "
                         f"photos held out, {Path(split).name})", f"{where}/images/train")
    reframed = Path(split).parent / "reframed"
    if (reframed / "annotations.json").is_file():
        photos, numbers, boxes, framing = annotated_photos(reframed, reframed / "annotations.json")
        out["reframed_validation"] = (photos, numbers, boxes, framing, "real SVHN validation photos zoomed out to "
                                      f"the test split's framing ({len(photos)}, seeded)",
                                      os.path.relpath(reframed, paths.CHECKOUT or Path.cwd()))
    return out


def evaluate_real_svhn(root: str | Path, model: ModelSource | None = None, record: bool = False,
                       localizer: ModelOption = None, split: str | Path | None = None, detector: ModelOption = None,
                       digits: ModelOption = None, pipeline: Pipeline | None = None,
                       ) -> dict[str, PhotoEvaluation]:
    """The real-image measurements on a folder laid out like ``../shared/svhn-real``: each of ``photo_sets``
    with its ground-truth union box (+30%) and whole (found by ``localizer`` and ``detector``, as ``predict``
    takes them; localizer False: read whole; ``digits`` the digit classifier joined with the reader), and the
    format-2 train digit crops."""
    root = Path(root)
    where = os.path.relpath(root, paths.CHECKOUT or Path.cwd())
    helpers = {"localizer": localizer, "detector": detector, "digits": digits, "pipeline": pipeline}
    out: dict[str, PhotoEvaluation] = {}
    for key, (photos, numbers, boxes, framing, name, folder) in photo_sets(root, split).items():
        out |= _with_and_without_box(key, photos, numbers, boxes, framing, name, folder, model, record, helpers)
    f2 = root / "format2" / "train_32x32_first1083.npz"
    if f2.is_file():
        with np.load(f2) as z:
            x, y = z["X"], z["y"]
        out["format2_train_digits"] = evaluate_photos(list(x), [str(int(v) % 10) for v in y], None, model=model,
                                                      digits=digits, record=record, pipeline="fast", data={
            "name": f"real SVHN format-2 32x32 digit crops of train images ({len(x)})",
            "path": f"{where}/format2/{f2.name}", "split": "train",
            "kind": "real SVHN", "crop": "32x32 single-digit crop, read whole"})
    return out


def _with_and_without_box(key: str, photos: list[Path], numbers: list[str], boxes: list[Box], framing: list[str],
                          name: str, where: str, model: Any, record: bool, helpers: dict[str, Any],
                          ) -> dict[str, PhotoEvaluation]:
    """The photos read with their true box and whole (``helpers``: ``evaluate_photos``' localizer, detector
    and digits); the whole-photo report also holds ``by_framing``."""
    data = {"name": name, "path": where, "split": key if key == "test" else "train", "kind": "real SVHN"}
    from svhn_api.inference.predict import default_pipeline

    full = (helpers["pipeline"] or default_pipeline()) == "full"
    crop = ("whole photo, no box" if helpers["localizer"] is False else "whole photo, number found by the "
            + ("detector and the localizer" if _used(helpers["detector"], paths.default_detector) else "localizer")
            + (" and the scene-text detector, read by both readers (full pipeline)" if full else " (fast path)"))
    boxed = evaluate_photos(photos, numbers, boxes, model=model, digits=helpers["digits"], record=record,
                            pipeline=helpers["pipeline"], data={**data, "crop": "ground-truth union box expanded 30%"
                                                                + (", read by both readers (full pipeline)" if full
                                                                   else " (fast path)")})
    whole = evaluate_photos(photos, numbers, None, model=model, **helpers, truth_boxes=boxes,
                            data={**data, "crop": crop})
    whole.metrics["by_framing"] = framing_of_reports(framing, boxed, whole)
    if record:
        from svhn_api.models import io as model_io

        record_in_card(model_io.load(model), whole)
    return {f"{key}_gt_box": boxed, f"{key}_whole_photo": whole}


def _used(given: Any, default: Any) -> bool:
    """Whether ``predict`` uses a helper model given as ``given`` (None: ``default()`` if there is one)."""
    return given is not False and (given is not None or default() is not None)


def summary_lines(results: dict[str, PhotoEvaluation]) -> list[str]:
    """``evaluate_real_svhn``'s results as text: one line a measurement, then the framing breakdowns."""
    lines = []
    for key, r in results.items():
        m = r.metrics
        iou = (f", mean IoU {m['mean_iou']:.3f}, found at IoU >= 0.5: {m['found_at_iou_0.5']:.1%}"
               if "mean_iou" in m else "")
        lines.append(f"{key:<32} {m['correct']:>5}/{m['count']:<5} = {m['whole_number_accuracy']:.1%}   "
                     f"({r.data['crop']}{iou})")
    for key, r in results.items():
        if "by_framing" in r.metrics:
            lines.append(f"{key} by framing (union-box height / photo height): photos, right whole, right with "
                         "the true box, found box IoU >= 0.5, mean IoU")
            lines += [framing_line(b) for b in r.metrics["by_framing"]]
    return lines
