"""Ship the models: copy trained runs into ``artifacts/models/`` and, in the same step, re-record the shipped
models' real-photo evaluations in every card, so that no card (nor the README, which quotes them) keeps the
figures of earlier models.

    python -m pipelines.ship [--reader runs/compact-real] [--localizer runs/localizer] \
                             [--detector runs/detector] [--digits runs/digits-ccexam] \
                             [--split data/whole_photo/real/split.json]

Without ``--reader``/``--localizer``/``--detector``/``--digits`` the models already shipped stay and only
their evaluations are measured again (after the real material beside the checkout changed, say). Measured,
each on the real SVHN material in ``$SVHN_REAL``: every test photo there (evaluation only) and the real
validation photos of ``--split`` (made by ``pipelines.whole_photo``, seeded, if it is not there yet) and their
copies zoomed out to the test split's framing, each with the ground-truth box and whole (the shipped detector
and localizer finding the number; the shipped digit classifier joined with the reader); and the format-2
digit crops. Earlier real-SVHN evaluations in the cards are replaced; others (e.g. synthetic splits) stay.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svhn_api import paths
from svhn_api.models.folder import ModelFolder

if TYPE_CHECKING:
    from svhn_api.inference.photo_eval import PhotoEvaluation

SHIPPED_FILES = (ModelFolder.KERAS, ModelFolder.CARD)   # model.onnx is exported again in the shipped folder and checked
REAL = "real SVHN"


def copy_run(run: Path, shipped: Path) -> None:
    """``run``'s model, card and license notices into ``shipped`` (each file replaced atomically; logs and
    checkpoints stay)."""
    missing = [n for n in SHIPPED_FILES if not (run / n).is_file()]
    if missing:
        raise SystemExit(f"{run}: no {' or '.join(missing)}; train it first (python -m svhn_api train ...)")
    shipped.mkdir(parents=True, exist_ok=True)
    for name in (*SHIPPED_FILES, *(p.name for p in ModelFolder(run).notices())):
        tmp = shipped / f".{name}.tmp"
        shutil.copy2(run / name, tmp)
        tmp.replace(shipped / name)


def rerecord(reader: Path, localizer: Path, results: dict[str, PhotoEvaluation], detector: Path | None = None,
             digits: Path | None = None) -> None:
    """Replace the real-SVHN evaluations of the cards with ``results`` (``evaluate_real_svhn``'s): all of them
    in the reader's card (and the digit classifier's), the whole-photo ones in the localizer's (and the
    detector's); each record names the models that made it."""
    from svhn_api.models import card as cards

    def record(r: PhotoEvaluation, whole: bool) -> dict[str, Any]:
        models = {"model": paths.portable(ModelFolder(reader).keras)}
        if digits is not None:
            models["digits"] = paths.portable(ModelFolder(digits).keras)
        if whole:
            models["localizer"] = paths.portable(ModelFolder(localizer).keras)
            if detector is not None:
                models["detector"] = paths.portable(ModelFolder(detector).keras)
        return {**models, "data": r.data, "metrics": r.metrics, "evaluated": r.evaluated}

    def whole(key: str) -> bool:
        return key.endswith("_whole_photo")

    def replace(records: list[dict[str, Any]]) -> Callable[[cards.ModelCard | None], cards.ModelCard]:
        def change(card: cards.ModelCard | None) -> cards.ModelCard:
            card = card or cards.ModelCard()
            card.evaluations = [e for e in card.evaluations if (e.get("data") or {}).get("kind") != REAL] + records
            return card
        return change

    cards.update(reader, replace([record(r, whole(k)) for k, r in results.items()]))
    if digits is not None:
        cards.update(digits, replace([{**record(r, whole(k)), "model": paths.portable(ModelFolder(digits).keras),
                                       "reader": paths.portable(ModelFolder(reader).keras)}
                                      for k, r in results.items()]))
    for finder in (localizer, detector):
        if finder is not None:
            cards.update(finder, replace([{**record(r, True), "model": paths.portable(ModelFolder(finder).keras),
                                           "reader": paths.portable(ModelFolder(reader).keras)}
                                          for k, r in results.items() if whole(k)]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reader", type=Path, default=None, help="a trained reader run to ship as compact")
    ap.add_argument("--localizer", type=Path, default=None, help="a trained localizer run to ship as localizer")
    ap.add_argument("--detector", type=Path, default=None, help="a trained detector run to ship as detector")
    ap.add_argument("--digits", type=Path, default=None,
                    help="a digit classifier (pipelines.pretrained_digits) to ship as digits")
    ap.add_argument("--shipped", type=Path, default=paths.shipped_models_dir(), help="the shipped models' folder")
    ap.add_argument("--real", type=Path, default=paths.real_svhn_dir(), help="the real SVHN sample")
    ap.add_argument("--split", type=Path, default=paths.data_dir() / "whole_photo" / "real" / "split.json",
                    help="the real train/validation split (pipelines.whole_photo's; made if missing)")
    a = ap.parse_args()
    from svhn_api.models.runtime import export

    if not (a.real / "images" / "test").is_dir():
        raise SystemExit(f"{a.real}: no real SVHN material to evaluate on; set SVHN_REAL or --real")
    reader, localizer, detector, digits = (a.shipped / n for n in ("compact", "localizer", "detector", "digits"))
    for run, shipped in ((a.reader, reader), (a.localizer, localizer), (a.detector, detector), (a.digits, digits)):
        if run is not None:
            copy_run(run, shipped)
            record = export(shipped, a.real)   # its ONNX sibling, checked on real photos too
            print(f"shipped {run} as {shipped} (model.onnx checked equal: largest difference "
                  f"{record['max_difference']:.2g})")

    from pipelines.whole_photo import reframed_validation, split_real
    from svhn_api.inference.photo_eval import evaluate_real_svhn, summary_lines

    split = split_real(a.real, a.split.parent, validation=103, seed=2026)
    reframed_validation(a.real, a.split.parent, split, split["seed"])
    detector, digits = ((m if ModelFolder(m).has_keras() else None) for m in (detector, digits))
    results = evaluate_real_svhn(a.real, reader, record=False, localizer=localizer, split=a.split,
                                 detector=detector or False, digits=digits or False)
    rerecord(reader, localizer, results, detector, digits)
    print("\n".join(summary_lines(results)))
    shipped = (reader, localizer, detector, digits)
    print(f"recorded in the cards of {', '.join(str(m) for m in shipped if m is not None)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
