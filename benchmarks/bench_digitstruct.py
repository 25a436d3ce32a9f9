"""Benchmark: our vectorised digitStruct.mat reader vs the popular per-element h5py reader.

Generates (once, cached under $SVHN_DATA/bench/, i.e. data/bench/, which git ignores) a full-size
33,402-entry digitStruct.mat in the official layout: from the real train annotations in
$SVHN_REAL/annotations/train.json (default ../shared/svhn-real) when present, else from random boxes with
the train split's digits-per-image distribution. Then times both readers on it in one run. ``--extra`` also
times ours on a generated 202,353-entry (extra-size) file.

    python -m benchmarks.bench_digitstruct [--runs 5] [--baseline-slice 5000] [--extra]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from svhn_api import paths
from svhn_api.data.digitstruct import read_digitstruct, read_digitstruct_per_element
from svhn_api.data.digitstruct_writer import write_digitstruct
from svhn_api.records import DigitBox, ImageRecord

TRAIN_SIZE, EXTRA_SIZE = 33_402, 202_353
# Digits per image in the official train split (1..6 digits), from annotations/train.json.
TRAIN_LENGTHS = {1: 5137, 2: 18130, 3: 8691, 4: 1434, 5: 9, 6: 1}


def train_records() -> tuple[list[ImageRecord], str]:
    path = paths.real_svhn_dir() / "annotations" / "train.json"
    if path.is_file():
        entries = json.loads(path.read_text())
        records = [
            ImageRecord(
                e["filename"],
                [DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"]) for b in e["boxes"]],
            )
            for e in entries
        ]
        return records, "real train annotations"
    return random_records(TRAIN_SIZE, seed=0), "random boxes (train length distribution)"


def random_records(n: int, seed: int) -> list[ImageRecord]:
    rng = np.random.default_rng(seed)
    lengths = np.array(list(TRAIN_LENGTHS))
    p = np.array(list(TRAIN_LENGTHS.values()), dtype=float)
    counts = rng.choice(lengths, size=n, p=p / p.sum())
    records = []
    for i, k in enumerate(counts.tolist()):
        labels = rng.integers(1, 11, size=k).tolist()
        vals = rng.integers(0, 400, size=(k, 4)).astype(float).tolist()
        records.append(ImageRecord(f"{i + 1}.png", [DigitBox(lab, *v) for lab, v in zip(labels, vals, strict=True)]))
    return records


def cached(path: Path, make) -> Path:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_digitstruct(path, make())
        print(f"  generated {path} in {time.perf_counter() - t0:.1f} s")
    return path


def median_time(fn, path: Path, runs: int):
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs of our reader (median reported)")
    ap.add_argument(
        "--baseline-slice",
        type=int,
        default=0,
        metavar="N",
        help="time the per-element baseline on the first N entries and extrapolate (default: full file, once)",
    )
    ap.add_argument("--extra", action="store_true", help="also time ours on a 202,353-entry file")
    ap.add_argument("--cache-dir", type=Path, default=paths.data_dir() / "bench",
                    help="where the generated files are kept (default: $SVHN_DATA/bench)")
    args = ap.parse_args()

    print(f"os.cpu_count() = {os.cpu_count()}")
    records, source = train_records()
    tag = "real" if source.startswith("real") else "random"
    full = cached(args.cache_dir / f"digitStruct_train{TRAIN_SIZE}_{tag}.mat", lambda: records)
    n = len(records)
    print(
        f"file: {full.name}  ({n:,} entries, {sum(len(r.boxes) for r in records):,} boxes, "
        f"{full.stat().st_size / 1e6:.1f} MB, from {source})"
    )

    ours, ours_all, result = median_time(read_digitstruct, full, args.runs)
    assert result == records, "read_digitstruct disagrees with the records written"
    runs_txt = ", ".join(f"{t:.3f}" for t in ours_all)
    print(
        f"read_digitstruct            : {ours:8.3f} s  median of {args.runs} [{runs_txt}]  {n / ours:>10,.0f} entries/s"
    )

    if args.baseline_slice:
        m = min(args.baseline_slice, n)
        part = cached(args.cache_dir / f"digitStruct_train{m}_{tag}.mat", lambda: records[:m])
        t_part, _, base_result = median_time(read_digitstruct_per_element, part, 1)
        assert base_result == records[:m]
        base = t_part * n / m
        how = f"measured once on the first {m:,} entries ({t_part:.2f} s), extrapolated x{n / m:.2f}"
    else:
        base, _, base_result = median_time(read_digitstruct_per_element, full, 1)
        assert base_result == result, "the two readers disagree"
        how = "measured once on the full file; results identical to ours"
    print(f"read_digitstruct_per_element: {base:8.3f} s  ({how})  {n / base:>10,.0f} entries/s")
    print(f"speed ratio (per-element / ours): {base / ours:.1f}x")

    if args.extra:
        extra = cached(
            args.cache_dir / f"digitStruct_extra{EXTRA_SIZE}_random.mat",
            lambda: random_records(EXTRA_SIZE, seed=1),
        )
        runs = max(1, min(args.runs, 3))
        t_extra, extra_all, extra_result = median_time(read_digitstruct, extra, runs)
        assert len(extra_result) == EXTRA_SIZE
        est = base / n * EXTRA_SIZE
        print(f"extra-size file: {extra.name} ({extra.stat().st_size / 1e6:.1f} MB)")
        print(
            f"read_digitstruct on {EXTRA_SIZE:,} entries: {t_extra:.3f} s median of {runs} "
            f"[{', '.join(f'{t:.3f}' for t in extra_all)}]  {EXTRA_SIZE / t_extra:,.0f} entries/s "
            f"(per-element estimate from the train rate: {est:.0f} s, not measured)"
        )


if __name__ == "__main__":
    main()
