"""Reproduce the published recipe (Goodfellow et al. 2013, as reproduced by potterhsu at 95.65%) on the
official SVHN archives: download + verify, prepare 64x64 union crops, train ``deep`` on random 54x54
crops, evaluate whole-number accuracy on the official test split (13,068 images).

    python -m pipelines.paper_recipe [--archives data/archives] [--epochs 40] [--minutes 600]

Run it from the repository root. Archives default to ``$SVHN_DATA/archives``, the run goes to
``$SVHN_RUNS/paper-<model>`` (``--root``).

Meant for a machine with a GPU (TensorFlow picks it up when the GPU build is installed); on a 2-core CPU
``deep`` trains at about 25 samples/s (benchmarks/bench_models.py), i.e. days. Resumable like every step:
rerun the same command after an interruption. ``--model capstone --crop capstone`` reproduces the 2016
capstone (``seed``, the old name of both, is still accepted).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from svhn_api import paths


def main() -> int:
    from svhn_api.data.preprocess import CROP_MODES
    from svhn_api.models.kinds import ARCHITECTURES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archives", default=str(paths.archives_dir()),
                    help="folder of the official archives, downloaded when missing (default: $SVHN_DATA/archives)")
    ap.add_argument("--model", choices=ARCHITECTURES, default="deep")
    ap.add_argument("--crop", choices=CROP_MODES, default="union")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--no-download", action="store_true")
    ap.add_argument("--root", default=str(paths.runs_dir()), help="where the run goes (default: $SVHN_RUNS)")
    a = ap.parse_args()

    import svhn_api

    store = Path(a.archives).parent / f"svhn_{a.crop}.h5"
    if not store.is_file():
        summary = svhn_api.prepare(a.archives, crop=a.crop, jobs=a.jobs, out=store, download=not a.no_download)
        print(f"prepared {store}: {summary.counts}; left out {len(summary.left_out)}", flush=True)
    name = f"paper-{a.model}"
    svhn_api.train(data=store, model=a.model, name=name, epochs=a.epochs, minutes=a.minutes, root=a.root)
    report = svhn_api.evaluate(Path(a.root) / name, store, split="test", record=True)
    print(report.text, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
