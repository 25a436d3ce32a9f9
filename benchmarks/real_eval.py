"""Whole-number accuracy of a model on the real SVHN material beside the checkout (../shared/svhn-real).

    python benchmarks/real_eval.py [--model artifacts/models/compact] [--record] [--json]

Three measurements, each naming its data:
- the 30 real test photos (official test numbers 1-30) with the ground-truth union box (expanded 30%,
  exactly as the pipeline crops),
- the same 30 photos whole, with no box,
- the 1,083 real 32x32 "format 2" digit crops of train images 1-499 (each one digit, read whole).
Skips with a message when ../shared/svhn-real is absent. ``--record`` appends the results to the card.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "svhn-real"

# What a user would pick instead, on the same 30 photos (figures from the issue tracker, issue 5).
BASELINES = {"tesseract5_psm8_digits_on_crops": 18, "rapidocr_ppocrv4_rec_on_crops": 24,
             "best_offline_ocr_on_full_images": 11}


def real_test_photos() -> tuple[list[Path], list[str], list[tuple[float, float, float, float]]]:
    from svhn_api.preprocess import union_box
    from svhn_api.records import DigitBox

    ann = {a["filename"]: a for a in json.loads((SHARED / "annotations" / "test.json").read_text())}
    paths = sorted((SHARED / "images" / "test").glob("*.png"), key=lambda p: int(p.stem))
    numbers, boxes = [], []
    for p in paths:
        a = ann[p.name]
        numbers.append(a["number"])
        boxes.append(union_box([DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"])
                                for b in a["boxes"]]))
    return paths, numbers, boxes


def run(model: str | None, record: bool) -> dict:
    from svhn_api.photo_eval import evaluate_photos

    paths, numbers, boxes = real_test_photos()
    real = "real SVHN (../shared/svhn-real)"
    results = {}
    results["test30_gt_box"] = evaluate_photos(
        paths, numbers, boxes, model=model, record=record,
        data={"name": "real SVHN test photos 1-30", "split": "test", "kind": real,
              "crop": "ground-truth union box expanded 30%"})
    results["test30_full_image"] = evaluate_photos(
        paths, numbers, None, model=model, record=record,
        data={"name": "real SVHN test photos 1-30", "split": "test", "kind": real, "crop": "full image, no box"})
    f2 = np.load(SHARED / "format2" / "train_32x32_first1083.npz")
    digits = [str(int(y) % 10) for y in f2["y"]]
    results["format2_train_1083"] = evaluate_photos(
        list(f2["X"]), digits, None, model=model, record=record,
        data={"name": "real SVHN format-2 32x32 digit crops of train images 1-499", "split": "train",
              "kind": real, "crop": "32x32 single-digit crop, read whole"})
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--record", action="store_true", help="append the results to the model card")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--show", action="store_true", help="print every reading of the 30 photos")
    a = ap.parse_args()
    if not SHARED.is_dir():
        print(f"skipped: the real SVHN material is not at {SHARED}")
        return 0
    t0 = time.perf_counter()
    res = run(a.model, a.record)
    print(f"machine: {os.cpu_count()} cores; model: {res['test30_gt_box']['model']}")
    for key, r in res.items():
        m = r["metrics"]
        print(f"{key:<22} {m['correct']:>5}/{m['count']:<5} = {m['whole_number_accuracy']:.1%}   ({r['data']['crop']})")
    print("baselines on the same 30 photos: " + ", ".join(f"{k} {v}/30" for k, v in BASELINES.items()))
    if a.show:
        for key in ("test30_gt_box", "test30_full_image"):
            print(key, " ".join(f"{x['truth']}:{x['prediction']}" + ("" if x["correct"] else "✗")
                                for x in res[key]["rows"]))
    print(f"({time.perf_counter() - t0:.1f} s)")
    if a.json:
        print(json.dumps({k: {"metrics": v["metrics"], "data": v["data"]} for k, v in res.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
