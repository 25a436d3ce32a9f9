"""Calibrate what "sure" means, for both speeds, on the real validation photos only (never on test photos).

    python -m pipelines.calibrate [--split data/whole_photo/real/split.json] [--real DIR] [--target 0.98]

The validation photos are the 103 train-split photos that ``pipelines.whole_photo``'s seeded split holds out,
plain and re-framed to the test split's framing (made here when missing, as that pipeline makes
them). Two calibrations are written:

- the full pipeline's (``svhn_api.inference.calibration``), for photos read whole and for photos read with
  their number's box given: per reason an answer can have, a monotone map from its evidence to the share of
  validation readings that were right; a reading is sure from the confidence at which the readings at or
  above it were ``--target`` right. Written to ``artifacts/models/calibration.json``.
- the fast path's: the digit classifier card's ``decode.unsure_below``, the lowest confidence that keeps
  ``--target`` accuracy on the validation readings at or above it, placed halfway to the next lower one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svhn_api import paths

if TYPE_CHECKING:
    from svhn_api.boxes import Box
    from svhn_api.inference.calibration import Mode, ModeCalibration
    from svhn_api.inference.predict import Prediction


def validation_photos(real: Path, split_file: Path) -> tuple[list[Path], list[str], list[Box], str]:
    """The plain and re-framed validation photos with their numbers and true boxes, made from the seeded split
    when missing."""
    from pipelines.whole_photo import reframed_validation, split_real
    from svhn_api.inference.photo_eval import photo_sets

    split = split_real(real, split_file.parent, 103, 2026)
    reframed_validation(real, split_file.parent, split, int(split["seed"]))
    sets = photo_sets(real, split_file)
    photos: list[Path] = []
    numbers: list[str] = []
    boxes: list[Box] = []
    for key in ("validation", "reframed_validation"):
        photos += sets[key][0]
        numbers += sets[key][1]
        boxes += sets[key][2]
    plain, reframed = len(sets["validation"][0]), len(sets["reframed_validation"][0])
    what = (f"real SVHN validation photos: {plain} train-split photos held out by the seeded split "
            f"({paths.portable(split_file)}, seed {split['seed']}) and their {reframed} copies re-framed to the test "
            "split's framing")
    return photos, numbers, boxes, what


def calibrate(real: Path, split_file: Path, target: float) -> dict[str, Any]:
    from svhn_api import predict
    from svhn_api.inference import calibration
    from svhn_api.inference.choose import choose
    from svhn_api.inference.evaluate import unsure_threshold
    from svhn_api.models import card as cards

    photos, numbers, boxes, what = validation_photos(real, split_file)
    shipped = paths.shipped_models_dir() / calibration.FILE
    aside = shipped.with_name(shipped.name + ".old")
    if shipped.is_file():        # the readings to fit are made without it; put back if this run fails
        shipped.replace(aside)
    try:
        whole = predict(photos, pipeline="full")
        boxed = predict(photos, boxes=boxes, pipeline="full")
    except BaseException:
        if aside.is_file():
            aside.replace(shipped)
        raise
    aside.unlink(missing_ok=True)
    modes: dict[Mode, ModeCalibration] = {}
    out: dict[str, dict[str, Any]] = {}
    by_mode: tuple[tuple[Mode, list[Prediction]], ...] = (("whole photo", whole), ("given box", boxed))
    for mode, readings in by_mode:
        right = np.array([r.number == n for r, n in zip(readings, numbers, strict=True)])
        choices = [choose(r.candidates) for r in readings]
        fitted = calibration.fit_mode([c.reason for c in choices], [c.evidence for c in choices], right, target)
        conf = np.array([fitted.confidence(c.reason, c.evidence) for c in choices])
        sure = conf >= fitted.sure_from
        modes[mode] = fitted
        out[f"full, {mode}"] = {"sure_from": fitted.sure_from, "right": int(right.sum()), "count": len(right),
                                "sure": int(sure.sum()),
                                "right_when_sure": float(right[sure].mean()) if sure.any() else None}
    path = calibration.write(calibration.Calibration(modes, {"photos": what, "count": len(photos),
                                                              "target": target}))
    out["full, whole photo"]["path"] = paths.portable(path)
    fast = predict(photos, pipeline="fast")
    fast_right = np.array([r.number == n for r, n in zip(fast, numbers, strict=True)])
    threshold, accuracy, kept = unsure_threshold(np.array([r.confidence for r in fast]), fast_right, target)
    basis = (f"{what}, fast path (localizer, search, reader and digit classifier): readings at or above it were "
             f"{accuracy:.1%} right and {kept:.1%} of the photos (target {target:.0%})")
    digits = paths.default_digits()
    if digits is None:
        raise SystemExit("no digit classifier to calibrate (artifacts/models/digits)")

    def change(card: cards.ModelCard | None) -> cards.ModelCard:
        card = card or cards.ModelCard()
        card.decode.unsure_below, card.decode.unsure_basis = threshold, basis
        return card

    cards.update(digits, change)
    out["fast"] = {"card": paths.portable(digits), "unsure_below": threshold, "right": int(fast_right.sum()),
                   "count": len(fast_right), "right_when_sure": accuracy, "sure_share": kept}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, default=paths.real_svhn_dir(), help="the real SVHN sample")
    ap.add_argument("--split", type=Path, default=paths.data_dir() / "whole_photo" / "real" / "split.json",
                    help="the seeded split of pipelines.whole_photo (made when missing)")
    ap.add_argument("--target", type=float, default=0.98, help="how often sure readings must be right")
    a = ap.parse_args()
    if not a.real.is_dir():
        raise SystemExit(f"the real SVHN sample is not at {a.real} (set $SVHN_REAL or --real)")
    print(json.dumps(calibrate(a.real, a.split, a.target), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
