"""Whole-number accuracy of a model on the real SVHN material beside the checkout (../shared/svhn-real, or
``$SVHN_REAL``, or ``--real``).

    python -m benchmarks.real_eval [--model artifacts/models/compact] [--localizer DIR | --whole-image]
                                   [--detector DIR | --no-detector] [--digits DIR | --no-digits] [--compare]
                                   [--pipeline full|fast] [--against fast|full|none]
                                   [--split data/whole_photo/real/split.json] [--real DIR] [--record] [--json]

Measurements, each naming its data:
- every real test photo there (official test numbers 1-130; evaluation only) with the ground-truth union box
  (expanded 30%, exactly as the pipeline crops),
- the same photos whole: the localizer finds the number (mean IoU against the ground-truth union box and the
  share found at IoU >= 0.5 reported), or with ``--whole-image`` the whole photo is read; both broken down by
  framing (how tall the number is in the photo: < 0.25, 0.25-0.4, 0.4-0.6, > 0.6 of its height),
- with ``--split``: the same two on the real validation photos that split held out of training,
- the 1,083 real 32x32 "format 2" digit crops of train images 1-499 (each one digit, read whole).
Every measurement with ``--pipeline`` (default: the full pipeline when the scene-text models are installed),
then again with ``--against`` (default: the other one), per framing bucket, with the photos fixed and broken
(paired) and the time per photo, and how often sure readings were right.
With ``--compare``: every measurement again with the reader alone (no digit classifier), and for each the
photos the digit classifier fixed and broke (paired, the same photos); then the digit classifier alone, on the
boxes the reader alone read, cut into as many slots as its reading has digits. Skips with a message when the real
material is absent. ``--record`` appends the results to the card.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svhn_api import paths

if TYPE_CHECKING:
    from svhn_api.boxes import Box
    from svhn_api.inference.photo_eval import PhotoEvaluation

# Quoted, not measured here: what a user would pick instead, on the same 30 photos (issue 5's figures).
QUOTED_BASELINES = {"tesseract5_psm8_digits_on_crops": 18, "rapidocr_ppocrv4_rec_on_crops": 24,
                    "best_offline_ocr_on_full_images": 11}


def paired(before: list[dict], after: list[dict]) -> tuple[int, int]:
    """Photos read right only ``after`` (fixed) and only ``before`` (broken): rows of the same photos."""
    fixed = sum(b["correct"] < a["correct"] for b, a in zip(before, after, strict=True))
    broken = sum(b["correct"] > a["correct"] for b, a in zip(before, after, strict=True))
    return fixed, broken


def classifier_alone(images: Sequence[Path], numbers: Sequence[str], boxes: Sequence[Box | None],
                     lengths: Sequence[int], digits: str | None = None) -> dict[str, Any]:
    """The digit classifier alone: each box (the whole photo for None) cut into ``lengths[i]`` equal slots (it
    has no length of its own: give the reader's), each slot read as its most probable digit."""
    import numpy as np

    from svhn_api.data.images import load_image
    from svhn_api.inference.digit_slots import slots
    from svhn_api.models import io as model_io
    from svhn_api.models.digits import digit_crop

    classifier = model_io.load(paths.default_digits() if digits is None else digits)
    rows: list[dict[str, Any]] = []
    for img, truth, box, length in zip(images, numbers, boxes, lengths, strict=True):
        pic = load_image(img)
        box = box or (0.0, 0.0, float(pic.width), float(pic.height))
        probs = classifier.run(np.stack([digit_crop(pic, s) for s in slots(box, max(1, length))]))
        reading = "".join(str(int(d)) for d in probs.argmax(axis=1))
        rows.append({"truth": truth, "prediction": reading, "correct": reading == truth})
    right = sum(bool(r["correct"]) for r in rows)
    return {"digits": paths.portable(classifier.path), "rows": rows,
            "metrics": {"whole_number_accuracy": round(right / len(rows), 6) if rows else None, "correct": right,
                        "count": len(rows)}}


def sure_lines(results: dict[str, PhotoEvaluation]) -> str:
    """Per measurement: readings not flagged unsure, and how often they were right."""
    lines = ["readings marked sure: share of photos, right when sure"]
    for key, r in results.items():
        m = r.metrics
        if m.get("sure") is None or not m["count"]:
            continue
        right = "–" if m["right_when_sure"] is None else f"{m['right_when_sure']:.1%}"
        lines.append(f"  {key:<32} {m['sure']:>5}/{m['count']:<5} = {m['sure'] / m['count']:.1%} sure, right {right}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--record", action="store_true", help="append the results to the model card")
    ap.add_argument("--real", type=Path, default=paths.real_svhn_dir(),
                    help="the real SVHN material (default: $SVHN_REAL, else ../shared/svhn-real)")
    ap.add_argument("--localizer", default=None,
                    help="localizer for the whole photos (default: $SVHN_LOCALIZER, else the shipped one)")
    ap.add_argument("--whole-image", action="store_true", help="read whole photos without the localizer")
    ap.add_argument("--detector", default=None,
                    help="detector that leads the localizer (default: $SVHN_DETECTOR, else the shipped one)")
    ap.add_argument("--no-detector", action="store_true", help="the localizer alone, without the detector")
    ap.add_argument("--digits", default=None,
                    help="digit classifier joined with the reader (default: $SVHN_DIGITS, else the shipped one)")
    ap.add_argument("--no-digits", action="store_true", help="the reader alone, without the digit classifier")
    ap.add_argument("--compare", action="store_true",
                    help="also read everything with the reader alone: fixed/broken photos, paired")
    ap.add_argument("--split", type=Path, default=None,
                    help="split.json of pipelines.whole_photo: also measure its real validation photos")
    ap.add_argument("--pipeline", choices=("full", "fast"), default=None,
                    help="full: with the scene-text models (the default when installed); fast: ours alone")
    ap.add_argument("--against", choices=("full", "fast", "none"), default=None,
                    help="the pipeline to compare with, same photos (default: the other one)")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON on the last line")
    ap.add_argument("--show", action="store_true", help="print every reading of the test photos")
    a = ap.parse_args()
    if not a.real.is_dir():
        print(f"skipped: the real SVHN material is not at {a.real}")
        return 0
    t0 = time.perf_counter()
    from svhn_api.inference.photo_eval import evaluate_real_svhn, photo_sets, summary_lines

    localizer, detector = False if a.whole_image else a.localizer, False if a.no_detector else a.detector
    from svhn_api.inference.predict import default_pipeline

    pipeline = a.pipeline or default_pipeline()
    against = {"full": "fast", "fast": "full"}[pipeline] if a.against is None else a.against
    digits = False if a.no_digits else a.digits
    res = evaluate_real_svhn(a.real, a.model, a.record, localizer=localizer, split=a.split, detector=detector,
                             digits=digits, pipeline=pipeline)
    print(f"machine: {os.cpu_count()} cores; model: {res['test_gt_box'].model}"
          + (f", digit classifier: {res['test_gt_box'].digits}" if res["test_gt_box"].digits else "")
          + f"; pipeline: {pipeline}")
    print("\n".join(summary_lines(res)))
    print(sure_lines(res))
    if against != "none":
        other = evaluate_real_svhn(a.real, a.model, False, localizer=localizer, split=a.split, detector=detector,
                                   digits=digits, pipeline=against)  # type: ignore[arg-type]
        print(f"against the {against} pipeline (same photos): right, fixed / broken by {pipeline}, seconds per photo "
              f"({against} -> {pipeline})")
        for key, r in other.items():
            fixed, broken = paired(r.rows, res[key].rows)
            m, n = r.metrics, res[key].metrics
            print(f"  {key:<32} {m['correct']:>5} -> {n['correct']:<5} fixed {fixed:>3}, broken {broken:>3}   "
                  f"{m['seconds_per_photo'] * 1000:7.1f} -> {n['seconds_per_photo'] * 1000:7.1f} ms")
        print(f"the {against} pipeline's framing breakdowns and sure readings:")
        print("\n".join(line for line in summary_lines(other) if " by framing " in line or line.startswith("    ")))
        print(sure_lines(other))
    if a.compare:
        alone = evaluate_real_svhn(a.real, a.model, False, localizer=localizer, split=a.split, detector=detector,
                                   digits=False)
        print("the reader alone, and what the digit classifier changed (same photos: fixed / broken):")
        for key, r in alone.items():
            fixed, broken = paired(r.rows, res[key].rows)
            m = r.metrics
            print(f"  {key:<32} {m['correct']:>5}/{m['count']:<5} = {m['whole_number_accuracy']:.1%}   "
                  f"with the digit classifier {res[key].metrics['correct']}: fixed {fixed}, broken {broken}")
        print("the digit classifier alone (the box read by the reader alone, cut into as many equal slots as that "
              "reading has digits; each slot's most probable digit), against the reader alone (fixed / broken):")
        for key, r in alone.items():
            if key == "format2_train_digits":
                continue
            photos, numbers, true_boxes, *_ = photo_sets(a.real, a.split)[key.rsplit("_", 2)[0]]
            boxes = true_boxes if key.endswith("_gt_box") else [row["box"] for row in r.rows]
            solo = classifier_alone(photos, numbers, boxes, [len(row["prediction"] or "") for row in r.rows],
                                    a.digits)
            fixed, broken = paired(r.rows, solo["rows"])
            m = solo["metrics"]
            print(f"  {key:<32} {m['correct']:>5}/{m['count']:<5} = {m['whole_number_accuracy']:.1%}   "
                  f"against the reader alone {r.metrics['correct']}: fixed {fixed}, broken {broken}")
    print("quoted baselines (on test photos 1-30, not run here): "
          + ", ".join(f"{k} {v}/30" for k, v in QUOTED_BASELINES.items()))
    if a.show:
        for key in ("test_gt_box", "test_whole_photo"):
            print(key, " ".join(f"{x['truth']}:{x['prediction']}" + ("" if x["correct"] else "✗")
                                for x in res[key].rows))
    print(f"({time.perf_counter() - t0:.1f} s)")
    if a.json:
        print(json.dumps({k: {"metrics": v.metrics, "data": v.data} for k, v in res.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
