"""Benchmark: synthetic SVHN images per second, with 1 and 2 jobs, and the projected time for 100,000.

Two measurements per job count, each the median of ``--runs`` runs:
- render: ``iter_items`` (render + PNG-encode in the workers, streamed back in order), no archive;
- synth: ``synth()`` end to end for a train archive of ``--n`` images (render, PNG, tar.gz with
  digitStruct.mat, manifest) into a temporary folder.
Worker start-up is included in every run (as it is for a real ``synth`` call). On a machine shared with
other work the wall-clock rates understate what idle cores do, so the CPU time per image of a
single-process render is printed too.

    python -m benchmarks.bench_synth [--n 1000] [--runs 3] [--jobs 1 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from svhn_api.data.synthetic_archives import synth
from svhn_api.synthetic.build import iter_items

TARGET = 100_000


def _time_render(n: int, jobs: int, seed: int) -> float:
    t = time.perf_counter()
    count = sum(1 for _ in iter_items("train", n, seed=seed, jobs=jobs))
    assert count == n
    return time.perf_counter() - t


def _time_synth(n: int, jobs: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        synth(tmp, train=n, extra=0, test=0, seed=seed, jobs=jobs, progress=False)
        return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="images per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    print(f"os.cpu_count() = {os.cpu_count()}; {args.n} train images per run, median of {args.runs} runs")
    _time_render(50, 1, 999)  # warm caches of this process (fonts, textures)
    # CPU time per image in this process (jobs=1): what a core costs, whatever else the machine runs
    c0 = time.process_time()
    _time_render(args.n, 1, 12345)
    cpu = (time.process_time() - c0) / args.n
    print(f"render CPU time: {cpu * 1000:.2f} ms/image -> {TARGET:,} images on 2 idle cores in "
          f"{TARGET * cpu / 2 / 60:.1f} min (render only)")
    for jobs in args.jobs:
        for name, fn in (("render", _time_render), ("synth", _time_synth)):
            times = [fn(args.n, jobs, seed) for seed in range(args.runs)]
            med = statistics.median(times)
            rate = args.n / med
            print(f"jobs={jobs} {name:<6}: {rate:7.1f} images/s  (runs: {', '.join(f'{x:.2f}' for x in times)} s)"
                  f"  -> {TARGET:,} images in {TARGET / rate / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
