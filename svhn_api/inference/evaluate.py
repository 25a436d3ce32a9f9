"""evaluate(): how well a model reads the numbers of one split of a prepared store.

Headline: **whole-number accuracy**, a reading is right only when its length and every digit are right
(joint decoding, ``svhn_api.inference.decode``). Also reported, each under its own name:

- ``capstone_per_position_accuracy``: the 2016 capstone's figure, the mean over the six heads (length and
  positions 1-5, where "no digit" counts as a class) of per-head argmax correctness. It is NOT a
  whole-number accuracy and is always higher.
- ``whole_number_accuracy_argmax``: whole-number accuracy when each head is read on its own (argmax).
- ``per_position_accuracy``: for position i, among numbers with an i-th digit, how often head i's argmax
  is that digit.
- ``accuracy_by_length``, ``length_confusion`` (rows: true length 1-5, columns: decoded length 1-5).
- ``coverage``: accuracy-coverage curve ranking readings by confidence (the joint probability of the
  decoded sequence), and ``coverage_at_98`` (largest share of images answered at >= 98% accuracy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svhn_api import paths
from svhn_api.data import store
from svhn_api.data.preprocess import crop_meaning
from svhn_api.errors import ModelError
from svhn_api.inference.decode import argmax_rows, decode_batch, topk
from svhn_api.labels import LABEL_DTYPE, LABEL_WIDTH, MAX_DIGITS, N_HEADS, OUTPUT_SHAPE, row_to_number
from svhn_api.models import card as cards
from svhn_api.models import provenance
from svhn_api.models.folder import ModelFolder

if TYPE_CHECKING:
    from svhn_api.models.io import LoadedModel, ModelSource

COVERAGE_POINTS = tuple(round(c, 2) for c in np.arange(0.05, 1.0001, 0.05))
CAPSTONE_DEFINITION = (f"mean over the {N_HEADS} heads (length, positions 1-{MAX_DIGITS} with 'no digit' as a "
                       "class) of per-head argmax correctness; the 2016 capstone's figure, not whole-number accuracy")


@dataclass(frozen=True)
class EvaluationData:
    """The rows an evaluation read: the store and split, how many of the split's rows and how they were
    chosen, their crop and whether they are synthetic or real."""

    path: str
    split: str
    count: int
    of: int
    selection: str
    crop: str
    crop_meaning: str
    kind: str


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` measured: the model, the rows read (``data``), how readings were decoded, the figures
    (``metrics``, module docstring), and with a ``samples=`` draw each sampled row's reading. ``text``, the
    human summary, is made from the other fields (again by ``dataclasses.replace``)."""

    model: str
    model_steps: int | None
    data: EvaluationData
    decode: dict[str, bool]
    metrics: dict[str, Any]
    seconds: float
    evaluated: str
    samples: list[dict[str, Any]] | None = None
    text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", summary_text(self))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able report (``svhn evaluate --json``): every field, ``samples`` only for a draw."""
        out = asdict(self)
        if self.samples is None:
            del out["samples"]
        return out

    def card_record(self) -> dict[str, Any]:
        """What a model card's ``evaluations`` keep of it: all but the samples and the text."""
        return {k: v for k, v in self.to_dict().items() if k not in ("samples", "text")}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)


def metrics(probs: np.ndarray, labels: np.ndarray, none_terms: bool = True) -> dict[str, Any]:
    """All the figures for probabilities ``(N, 6, 11)`` against label rows ``(N, 6)``."""
    labels = np.asarray(labels).astype(np.int64)
    n = len(labels)
    rows, conf = decode_batch(probs, none_terms)
    right = np.all(rows == labels, axis=1)
    heads = argmax_rows(probs).astype(np.int64) if n else np.zeros((0, LABEL_WIDTH), np.int64)
    lengths = labels[:, 0]
    out: dict[str, Any] = {
        "count": n,
        "whole_number_accuracy": _mean(right),
        "capstone_per_position_accuracy": _mean(heads == labels),
        "capstone_definition": CAPSTONE_DEFINITION,
        "whole_number_accuracy_argmax": _mean(np.all(heads == labels, axis=1)),
        "length_accuracy": _mean(rows[:, 0] == lengths),
    }
    out["per_position_accuracy"] = [
        {"position": i, "count": int((lengths >= i).sum()),
         "accuracy": _mean(heads[lengths >= i, i] == labels[lengths >= i, i])} for i in range(1, MAX_DIGITS + 1)]
    out["accuracy_by_length"] = [
        {"length": k, "count": int((lengths == k).sum()), "accuracy": _mean(right[lengths == k])}
        for k in range(1, MAX_DIGITS + 1)]
    matrix = np.zeros((MAX_DIGITS, MAX_DIGITS), dtype=np.int64)
    ok = (lengths >= 1) & (lengths <= MAX_DIGITS)
    np.add.at(matrix, (lengths[ok] - 1, rows[ok, 0].astype(np.int64) - 1), 1)
    out["length_confusion"] = {"labels": list(range(1, MAX_DIGITS + 1)), "rows": "true length",
                               "columns": "decoded length", "matrix": matrix.tolist()}
    out["coverage"] = coverage(conf, right)
    return out


def _mean(a: np.ndarray) -> float | None:
    return round(float(np.mean(a)), 6) if np.size(a) else None


def coverage(confidence: np.ndarray, right: np.ndarray, target: float = 0.98) -> dict[str, Any]:
    """Accuracy when answering only the most confident share of images, for several shares."""
    n = len(right)
    if n == 0:
        return {"curve": [], "coverage_at_98": None, "threshold_at_98": None}
    order = np.argsort(-np.asarray(confidence), kind="stable")
    acc = np.cumsum(np.asarray(right)[order]) / np.arange(1, n + 1)
    conf = np.asarray(confidence)[order]
    curve = []
    for c in COVERAGE_POINTS:
        k = max(1, int(round(c * n)))
        curve.append({"coverage": c, "accuracy": round(float(acc[k - 1]), 6), "threshold": float(conf[k - 1])})
    good = np.flatnonzero(acc >= target)
    k = int(good[-1]) + 1 if len(good) else 0
    return {"curve": curve, "coverage_at_98": round(k / n, 6), "threshold_at_98": float(conf[k - 1]) if k else None,
            "confidence": "joint probability of the decoded sequence"}


def split_probabilities(lm: LoadedModel, data: store.Source, split: str, batch_size: int = 256,
                        limit: int | None = None, on_batch: Callable[[int, int], None] | None = None,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The model's probabilities ``(N, 6, 11)`` and the label rows ``(N, 6)`` of a split (its first ``limit``
    rows), streamed in batches; ``on_batch(done, total)`` after each."""
    total = store.count(data, split) if limit is None else min(limit, store.count(data, split))
    parts, labs, done = [], [], 0
    for b in store.iter_batches(data, split, batch_size, limit=limit):
        parts.append(lm.probabilities(b["images"], batch_size))
        labs.append(b["labels"])
        done += len(b["labels"])
        if on_batch is not None:
            on_batch(done, total)
    probs = np.concatenate(parts) if parts else np.zeros((0, *OUTPUT_SHAPE), np.float32)
    labels = np.concatenate(labs) if labs else np.zeros((0, LABEL_WIDTH), LABEL_DTYPE)
    return probs, labels


def sample_listing(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray, names: np.ndarray,
                   none_terms: bool) -> list[dict[str, Any]]:
    """One entry per sampled row: truth, reading, confidence and the next readings."""
    decoded, conf = decode_batch(probs, none_terms)
    return [{"index": int(i), "filename": str(names[j]), "truth": row_to_number(labels[j]),
             "prediction": row_to_number(decoded[j]), "confidence": round(float(conf[j]), 6),
             "correct": bool(np.array_equal(decoded[j], labels[j])),
             "alternatives": [{"number": s, "probability": round(p, 6)} for s, p in topk(probs[j], 4, none_terms)[1:]]}
            for j, i in enumerate(idx)]


def unsure_threshold(confidence: np.ndarray, right: np.ndarray, target: float = 0.98) -> tuple[float, float, float]:
    """The confidence under which a reading is flagged unsure: the lowest one that keeps ``target`` accuracy on
    the readings at or above it (when no share reaches ``target``, the one with the best accuracy: the best that
    can be done), placed halfway to the next lower confidence seen, so that float noise cannot flip a reading
    that sits on it. Returns ``(threshold, accuracy kept, share kept)``."""
    if not len(right):
        raise ValueError("unsure_threshold needs at least one reading")
    conf = np.asarray(confidence, dtype=float)
    order = np.argsort(-conf, kind="stable")
    acc = np.cumsum(np.asarray(right)[order]) / np.arange(1, len(order) + 1)
    ends = np.flatnonzero(np.append(conf[order][1:] != conf[order][:-1], True))   # last index of each tie
    good = ends[acc[ends] >= target]
    k = int(good[-1]) if len(good) else int(ends[np.argmax(acc[ends])])
    kept = conf[order][k]
    below = conf[order][k + 1] if k + 1 < len(order) else None
    threshold = float(kept if below is None else (kept + below) / 2)
    return threshold, float(acc[k]), (k + 1) / len(order)


def _read_split(lm: LoadedModel, data: store.Source, split: str, n_split: int, samples: int | None, seed: int,
                batch_size: int, progress: bool, on_progress: Callable[[int, int], None] | None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The model's probabilities and the labels of ``samples`` random rows (drawn with ``seed``; their
    filenames too) or of the whole split (with a progress bar; no filenames); and the rows' indices."""
    from tqdm import tqdm

    if samples is not None:
        k = min(int(samples), n_split)
        idx = np.sort(np.random.default_rng(seed).choice(n_split, size=k, replace=False))
        rows = store.read(data, split, fields=("images", "labels", "filenames"), indices=idx)
        return lm.probabilities(rows["images"], batch_size), rows["labels"], idx, rows["filenames"]
    with tqdm(total=n_split, desc=f"evaluate {split}", unit="img", disable=not progress,
              dynamic_ncols=True, mininterval=1.0) as bar:
        def advance(done: int, total: int) -> None:
            bar.update(done - bar.n)
            if on_progress is not None:
                on_progress(done, total)

        probs, labels = split_probabilities(lm, data, split, batch_size, on_batch=advance)
    return probs, labels, np.arange(n_split), None


def _whole_photo(lm: LoadedModel, data: store.Source, split: str, idx: np.ndarray, localizer: ModelSource | None,
                 probs: np.ndarray, labels: np.ndarray, progress: bool) -> dict[str, Any]:
    """``whole_photo_eval.whole_photo_metrics`` of the rows ``idx``, beside whether each was read right in its crop."""
    from tqdm import tqdm

    from svhn_api.inference.whole_photo_eval import whole_photo_metrics

    with tqdm(total=len(idx), desc=f"whole photos {split}", unit="photo", disable=not progress,
              dynamic_ncols=True, mininterval=1.0) as bar:
        decoded, _ = decode_batch(probs, lm.none_terms)
        return whole_photo_metrics(lm, data, split, idx, localizer,
                                   on_batch=lambda done, total: bar.update(done - bar.n),
                                   boxed_right=np.all(decoded == labels, axis=1))


def evaluate(model: ModelSource | None = None, data: str | Path | None = None, split: str = "test",
             samples: int | None = None, seed: int = 0, progress: bool = True, *, batch_size: int = 256,
             record: bool = False, on_progress: Callable[[int, int], None] | None = None, whole_photo: bool = False,
             localizer: ModelSource | None = None) -> Evaluation:
    """Evaluate ``model`` (folder, .keras file, or None for the shipped one) on ``split`` of the store ``data``.

    ``samples=64``: 64 random rows (drawn with ``seed``) listed with prediction and truth; otherwise the
    whole split with a progress bar. With ``record`` and a model folder with a card, the result is
    appended to the card's ``evaluations`` (atomically). Returns an ``Evaluation``; ``text`` is a human
    summary, ``to_dict()`` the JSON-able report.
    ``on_progress(done, total)`` is called after each batch of a whole-split run (e.g. for a UI's bar).
    ``whole_photo``: also read the same rows' original photos whole, the ``localizer`` (default: the shipped
    one) finding the number (``inference.whole_photo_eval``): ``metrics["whole_photo"]`` holds that accuracy and
    the localizer's IoU (the photos are read from the archives beside the store).
    """
    from svhn_api.models import io as model_io

    if data is None:
        raise ValueError("evaluate needs data=: a prepared store (.h5)")
    t0 = time.perf_counter()
    lm = model_io.load(model)
    with store.OpenStore(data) as opened:
        info = store.inspect(opened)
        if tuple(info.image_shape) != lm.input_shape:
            raise ModelError(f"{lm.path}: reads {lm.input_shape} images but {data} holds {info.image_shape} "
                             f"({info.crop} crop); use a store prepared with the crop the model was trained on")
        n_split = info.counts.get(split, 0)
        if split not in info.counts:
            raise ModelError(f"{data}: no split {split!r}")
        probs, labels, idx, names = _read_split(lm, opened, split, n_split, samples, seed, batch_size, progress,
                                                on_progress)
        m = metrics(probs, labels, lm.none_terms)
        if whole_photo:
            m["whole_photo"] = _whole_photo(lm, opened, split, idx, localizer, probs, labels, progress)
        facts = provenance.data_facts(opened, checksum=False)
    report = Evaluation(
        model=paths.portable(lm.path),
        model_steps=lm.card.steps,
        data=EvaluationData(path=facts["path"], split=split, count=m["count"], of=n_split,
                            selection=f"{m['count']} random rows (seed {seed})" if samples is not None
                            else "whole split",
                            crop=info.crop, crop_meaning=crop_meaning(info.crop), kind=facts["kind"]),
        decode={"joint": True, "none_terms": lm.none_terms},
        metrics=m,
        seconds=round(time.perf_counter() - t0, 2),
        evaluated=provenance.now(),
        samples=None if names is None else sample_listing(probs, labels, idx, names, lm.none_terms),
    )
    if record and lm.folder is not None and ModelFolder(lm.folder).has_card():
        try:
            cards.add_evaluation(lm.folder, report.card_record())
        except OSError as e:
            raise ModelError(f"{lm.folder}: could not record the evaluation in its card ({e}); "
                             "rerun without --record, or make the folder writable") from e
    return report


def _whole_photo_lines(w: dict[str, Any] | None) -> list[str]:
    if not w:
        return []
    missing = f"; {w['missing']:,} rows without their photo here" if w["missing"] else ""
    by = f"the detector {w['detector']} and " if w.get("detector") else ""
    return [f"whole photo, number found by {by}the localizer {w['localizer']}: {w['correct']:,}/{w['count']:,} = "
            f"{100 * w['whole_photo_accuracy']:.1f}%{missing}",
            f"  localizer mean IoU {w['mean_iou']:.3f}, found (IoU >= 0.5) {100 * w['found_at_iou_0.5']:.1f}%; "
            f"{w['unsure']:,} readings flagged unsure",
            "  by framing (number height / photo height): photos, right whole, right with the true box, found "
            "(IoU >= 0.5), mean IoU",
            *(framing_line(b) for b in w.get("by_framing", [])),
            *stage_lines(w)]


def stage_lines(w: dict[str, Any]) -> list[str]:
    """``whole_photo_eval.by_stage`` in words: right of photos per stage that found the chosen box, and per reason."""
    stages = w.get("by_stage")
    if not stages:
        return [f"  pipeline {w['pipeline']}"] if w.get("pipeline") else []
    return [f"  pipeline {w['pipeline']}; right / photos by what found the chosen box: " + ", ".join(
        f"{k} {v['correct']:,}/{v['count']:,}" for k, v in stages["source"].items()),
        "    by why it was chosen: " + ", ".join(f"{k} {v['correct']:,}/{v['count']:,}"
                                              for k, v in stages["reason"].items())]


def framing_line(b: dict[str, Any]) -> str:
    """One bucket of ``whole_photo_eval.by_framing`` as a table row."""
    found = "–" if b["found_at_iou_0.5"] is None else f"{100 * b['found_at_iou_0.5']:.0f}%"
    iou = "–" if b["mean_iou"] is None else f"{b['mean_iou']:.2f}"
    boxed = "–" if b.get("boxed_correct") is None else f"{b['boxed_correct']:,}"
    return f"    {b['framing']:<9} {b['count']:>6,} {b['whole_correct']:>6,} {boxed:>6} {found:>5} {iou:>5}"


def summary_text(report: Evaluation) -> str:
    m, d = report.metrics, report.data

    def pct(v: float | None) -> str:
        return "  n/a" if v is None else f"{100 * v:5.1f}%"

    lines = [f"model {report.model}",
             f"data  {d.path} [{d.split}] {d.count:,} of {d.of:,} images ({d.selection}), "
             f"{d.crop} crop ({d.crop_meaning}), {d.kind}",
             f"whole-number accuracy          {pct(m['whole_number_accuracy'])}   (joint decoding)",
             f"  reading each head by argmax  {pct(m['whole_number_accuracy_argmax'])}",
             f"capstone per-position figure   {pct(m['capstone_per_position_accuracy'])}   "
             "(mean per-head correctness, not whole numbers)",
             f"length accuracy                {pct(m['length_accuracy'])}",
             "per-position digit accuracy    " + "  ".join(
                 f"{p['position']}:{pct(p['accuracy']).strip()}" for p in m["per_position_accuracy"] if p["count"]),
             "accuracy by length             " + "  ".join(
                 f"{a['length']}:{pct(a['accuracy']).strip()} (n={a['count']})" for a in m["accuracy_by_length"]
                 if a["count"]),
             f"coverage at 98% accuracy       {pct(m['coverage']['coverage_at_98'])}",
             *_whole_photo_lines(m.get("whole_photo")),
             "length confusion (rows true 1-5, columns decoded 1-5):"]
    lines += ["  " + " ".join(f"{v:6d}" for v in row) for row in m["length_confusion"]["matrix"]]
    for s in (report.samples or [])[:64]:
        mark = "ok " if s["correct"] else "BAD"
        alts = ", ".join(a["number"] for a in s["alternatives"][:2])
        lines.append(f"  {mark} {s['filename']:>12}  truth {s['truth']:>6}  read {s['prediction']:>6}  "
                     f"p={s['confidence']:.3f}  next: {alts}")
    return "\n".join(lines)
