"""Reproduce the published recipe (Goodfellow et al. 2013, as reproduced by potterhsu at 95.65%) on the
official SVHN archives: download + verify, prepare 64x64 union crops, train ``deep`` on random 54x54
crops, evaluate whole-number accuracy on the official test split (13,068 images).

    python pipelines/paper_recipe.py [--archives data/archives] [--epochs 40] [--minutes 600]

Meant for a machine with a GPU (TensorFlow picks it up when the GPU build is installed); on a 2-core CPU
``deep`` trains at about 25 samples/s (benchmarks/bench_models.py), i.e. days. Resumable like every step:
rerun the same command after an interruption. ``--model seed --crop seed`` reproduces the 2016 capstone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archives", default=str(ROOT / "data" / "archives"))
    ap.add_argument("--model", choices=("deep", "seed", "compact"), default="deep")
    ap.add_argument("--crop", choices=("union", "seed"), default="union")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--no-download", action="store_true")
    ap.add_argument("--root", default=str(ROOT / "artifacts" / "models"))
    a = ap.parse_args()

    import svhn_api

    store = Path(a.archives).parent / f"svhn_{a.crop}.h5"
    if not store.is_file():
        summary = svhn_api.data.prepare(a.archives, crop=a.crop, jobs=a.jobs, out=store, download=not a.no_download)
        print(f"prepared {store}: {summary.counts}; left out {len(summary.left_out)}", flush=True)
    name = f"paper-{a.model}"
    svhn_api.training.train(data=store, model=a.model, name=name, epochs=a.epochs, minutes=a.minutes, root=a.root)
    report = svhn_api.inference.evaluate(Path(a.root) / name, store, split="test", record=True)
    print(report["text"], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
