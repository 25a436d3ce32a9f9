"""Preprocessing throughput of prepare with 1 and 2 joblib workers: the parallel stage (read the archive,
decode, crop, resize, write a part file) and the whole (that stage, then the serial assembly of the store).

    python -m benchmarks.bench_prepare [--images 3000] [--runs 3]

The input is a synthetic archive in the official layout (rendered once, cached in $SVHN_DATA/bench/, by
default data/bench/). Each
configuration processes the whole archive into a part file, then assembles the store from it; the medians
of ``--runs`` runs are printed with the machine's core count and the 2-job / 1-job speed-ups measured in the
same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from svhn_api import paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--crop", default="union", choices=("union", "capstone", "seed"),
                    help="crop mode ('seed': the old name of 'capstone')")
    a = ap.parse_args()

    from svhn_api.data.prepare import assemble, process_archive
    from svhn_api.data.synthetic_archives import synth

    folder = paths.data_dir() / "bench" / f"prepare_{a.images}"
    archive = folder / "train.tar.gz"
    if not archive.is_file():
        synth(folder, train=a.images, extra=0, test=0, seed=7, progress=False)
    print(f"machine: {os.cpu_count()} cores; archive: {archive.name}, {a.images:,} synthetic photos, "
          f"{archive.stat().st_size / 1e6:.1f} MB; crop {a.crop}")
    rates: dict[tuple[str, int], float] = {}
    for jobs in (1, 2):
        stage, whole = [], []
        for _ in range(a.runs):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                part = process_archive(archive, "train", Path(tmp) / "part.h5", mode=a.crop, jobs=jobs,
                                       archive_md5=f"bench-{time.time_ns()}", progress=False)
                stage.append(time.perf_counter() - t0)
                assemble({"train": part}, Path(tmp) / "store.h5", mode=a.crop, validation_size=300, seed=0,
                         checksums={"train": "bench"})
                whole.append(time.perf_counter() - t0)
        for label, times in (("parallel stage", stage), ("whole prepare", whole)):
            med = statistics.median(times)
            rates[label, jobs] = a.images / med
            print(f"jobs={jobs} {label}: median {med:.2f} s of {a.runs} runs {[round(t, 2) for t in times]}  "
                  f"-> {rates[label, jobs]:,.0f} images/s")
    for label in ("parallel stage", "whole prepare"):
        print(f"speed-up 2 jobs / 1 job, {label}: {rates[label, 2] / rates[label, 1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
