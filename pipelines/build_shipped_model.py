"""Build the shipped model from scratch on a CPU: synthetic archives -> prepare -> train compact ->
evaluate (synthetic test split, and the real SVHN photos beside the checkout when present) -> card.

    python -m pipelines.build_shipped_model [--train 50000 --extra 10000 --test 3000] [--minutes 60]

Run it from the repository root. Archives and the store go to ``$SVHN_DATA/shipped`` (``--work``), the model
to ``$SVHN_RUNS/compact`` (``--root``, ``--name``); to ship it, copy its ``model.keras`` and ``card.json`` into
``artifacts/models/compact/``. The real SVHN photos are read from ``$SVHN_REAL`` (default
``../shared/svhn-real``) when present. Every step is resumable: archives and the store already built are
reused, and training continues from its last checkpoint when the same command is run again after an
interruption. Real test-split images are never used for training or model selection; they are only
measured at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from svhn_api import paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=50000)
    ap.add_argument("--extra", type=int, default=10000)
    ap.add_argument("--test", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=10, help="epochs without validation gain before stopping")
    ap.add_argument("--name", default="compact", help="folder under --root")
    ap.add_argument("--root", default=str(paths.runs_dir()), help="where the run goes (default: $SVHN_RUNS)")
    ap.add_argument("--work", default=str(paths.data_dir() / "shipped"),
                    help="where archives and the store go (default: $SVHN_DATA/shipped)")
    ap.add_argument("--real", type=Path, default=paths.real_svhn_dir(),
                    help="the real SVHN sample measured at the end (default: $SVHN_REAL)")
    a = ap.parse_args()

    import svhn_api
    from svhn_api.inference.photo_eval import evaluate_real_svhn

    shared = a.real

    t0 = time.perf_counter()
    work = Path(a.work)
    archives = work / "archives"
    if not all((archives / f"{s}.tar.gz").is_file() for s in ("train", "extra", "test")):
        print(f"[1/4] rendering {a.train + a.extra + a.test:,} synthetic photos into {archives}", flush=True)
        svhn_api.synth(archives, train=a.train, extra=a.extra, test=a.test, seed=a.seed, jobs=a.jobs)
    store = work / "synthetic_union.h5"
    if not store.is_file():
        print(f"[2/4] preparing {store}", flush=True)
        summary = svhn_api.prepare(archives, out=store, jobs=a.jobs, download=False)
        print(json.dumps(summary.counts), f"left out: {len(summary.left_out)}", flush=True)
    print(f"[3/4] training compact for up to {a.minutes} min", flush=True)
    result = svhn_api.train(data=store, model="compact", name=a.name, epochs=a.epochs, minutes=a.minutes,
                            seed=a.seed, root=a.root, patience=a.patience)
    print(result.to_json(), flush=True)
    folder = Path(a.root) / a.name
    print("[4/4] evaluating", flush=True)
    report = svhn_api.evaluate(folder, store, split="test", record=True)
    print(report.text, flush=True)
    if shared.is_dir():
        for key, r in evaluate_real_svhn(shared, str(folder), record=True).items():
            m = r.metrics
            print(f"real {key}: {m['correct']}/{m['count']} = {m['whole_number_accuracy']:.1%}", flush=True)
    else:
        print(f"real-image evaluation skipped: {shared} not found", flush=True)
    print(f"done in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
