"""Bulk reading throughput: ``python -m svhn_api read`` from PNG files to a CSV file, whole photos with the
shipped localizer and reader, warm.

    python -m benchmarks.bench_read [--photos 2000] [--runs 3] [--batch-size 256]

Renders ``--photos`` synthetic street photos once (seed 0, the test split's renderer) as PNG files in a
temporary folder, reads them ``--runs`` times into a fresh results file each time (the first run, which
loads and traces the models, is not counted), and prints the median photos/s with the machine's core count:
with the models on Keras, then on ONNX Runtime, in the same process, each with the digit classifier (the
default) and without (``--no-digits``), and the speed-up over the Keras path.
Beside it, the same photos through ``predict()`` one at a time (the loop a user would write), same run, and
the models alone on random 64x64 batches of the same size: a whole photo costs two localizer looks and one
reading, which bounds what ``read`` can reach on this machine before any decoding.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

RUNTIMES = ("keras", "onnx")   # $SVHN_RUNTIME of each pass
WAYS = {"(reader and digit classifier: the default)": None, "--no-digits (the reader alone)": False}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=2000, help="synthetic photos to read")
    ap.add_argument("--runs", type=int, default=3, help="timed runs (after one warm-up run)")
    ap.add_argument("--batch-size", type=int, default=256, help="photos per model batch")
    a = ap.parse_args()
    from svhn_api.data.archives import iter_images
    from svhn_api.data.synthetic_archives import synth
    from svhn_api.inference.bulk import read_photos
    from svhn_api.inference.predict import predict

    rates: dict[tuple[str, str], list[float]] = {}
    ran: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        archive = synth(Path(tmp) / "archives", train=0, extra=0, test=a.photos, progress=False)["test"]
        for name, data in iter_images(archive):
            (folder / name).write_bytes(data)
        for runtime in RUNTIMES:          # the same run: the Keras path first (the baseline)
            os.environ["SVHN_RUNTIME"] = runtime
            for how, digits in WAYS.items():
                for run in range(a.runs + 1):
                    out = Path(tmp) / f"results-{runtime}-{how}-{run}.csv"
                    summary = read_photos([folder], out, batch_size=a.batch_size, progress=False, digits=digits)
                    if run:
                        rates.setdefault((runtime, how), []).append(summary.per_second)
                ran[runtime] = summary.runtime
        speeds = thorough_beside_fast(folder, Path(tmp), a.runs, a.batch_size)
        files = sorted(folder.glob("*.png"))[:200]
        predict(files[0])
        t0 = time.perf_counter()
        for f in files:
            predict(f)
        one_by_one = len(files) / (time.perf_counter() - t0)
    print(f"machine: {os.cpu_count()} cores; {a.photos:,} synthetic photos (PNG files), whole photo with the "
          f"localizer, batch {a.batch_size}")
    for (runtime, how), r in rates.items():
        base = statistics.median(rates[("keras", how)])
        print(f"read {how:<40} on {ran[runtime]['reader']:<11}: median {statistics.median(r):,.0f} photos/s over "
              f"{a.runs} runs ({', '.join(f'{v:,.0f}' for v in r)}); {statistics.median(r) / base:.2f}x the Keras "
              "path")
    for line in speeds:
        print(line)
    print(f"predict() one photo at a time, same photos (first 200), {ran[RUNTIMES[-1]]['reader']}, its default "
          f"pipeline: {one_by_one:,.0f} photos/s")
    look, reading = models_alone(a.batch_size)
    print(f"models alone on {ran[RUNTIMES[-1]]['reader']}, batch {a.batch_size}: localizer {look:,.0f} looks/s, "
          f"reader {reading:,.0f} crops/s -> at most {1 / (2 / look + 1 / reading):,.0f} photos/s for two looks "
          "and one reading")
    return 0


def thorough_beside_fast(synthetic: Path, tmp: Path, runs: int, batch_size: int) -> list[str]:
    """``read`` and ``read --thorough`` on ONNX Runtime, interleaved run by run, on the synthetic photos and on
    the real test photos (when the real sample is beside the checkout): median photos/s and how many photos the
    fast path was unsure of (read again by the full pipeline)."""
    from svhn_api import paths
    from svhn_api.inference.bulk import read_photos

    os.environ["SVHN_RUNTIME"] = "onnx"
    real = paths.real_svhn_dir() / "images" / "test"
    sets = {"synthetic photos": synthetic, **({"real SVHN test photos": real} if real.is_dir() else {})}
    lines = []
    for what, folder in sets.items():
        rates: dict[bool, list[float]] = {False: [], True: []}
        rechecked = 0
        for run in range(runs + 1):
            for thorough in (False, True):
                out = tmp / f"speed-{what[:4]}-{thorough}-{run}.csv"
                summary = read_photos([folder], out, batch_size=batch_size, progress=False, thorough=thorough)
                if run:
                    rates[thorough].append(summary.per_second)
                rechecked = summary.rechecked if thorough else rechecked
        fast, slow = statistics.median(rates[False]), statistics.median(rates[True])
        lines.append(f"read on {what} ({summary.read:,}), onnxruntime: fast path {fast:,.0f} photos/s, --thorough "
                     f"{slow:,.1f} photos/s ({rechecked:,} unsure photos read again by the full pipeline); "
                     f"medians of {runs} interleaved runs, {os.cpu_count()} cores")
    return lines


def models_alone(batch_size: int, runs: int = 7) -> tuple[float, float]:
    """Images/s of the shipped localizer and reader on one random uint8 batch each (median of ``runs``)."""
    import numpy as np

    from svhn_api import paths
    from svhn_api.models import io

    rates = []
    for path in (paths.default_localizer(), paths.default_model()):
        lm = io.load(path)
        x = np.random.default_rng(0).integers(0, 256, (batch_size, *lm.input_shape), dtype=np.uint8)
        lm.run(x, batch_size=batch_size)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            lm.run(x, batch_size=batch_size)
            times.append(time.perf_counter() - t0)
        rates.append(batch_size / statistics.median(times))
    return rates[0], rates[1]


if __name__ == "__main__":
    raise SystemExit(main())
