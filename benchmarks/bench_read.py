"""Reading speed of ``python -m svhn_api read`` (PNG and JPEG files to a CSV file, whole photos with the shipped
localizer and reader, warm, ONNX Runtime), this checkout's code beside another checkout's in the same run.

    python -m benchmarks.bench_read [--baseline DIR] [--photos 2000] [--runs 3] [--batch-size 256]
                                    [--sizes 100x50:256,400x200:128,1600x800:24,4000x3000:6] [--one-photo 9]
                                    [--thorough-runs 1] [--no-real]

Each code (this checkout, and ``--baseline``'s, e.g. a copy of the main branch made with ``git archive``) runs
in its own worker process (``PYTHONPATH`` set to its folder, one-thread ONNX Runtime calls as ``read`` makes
them); the two take turns, run by run, on the same files, and each measurement's first run (which loads the
models) is not counted. Printed, with the core count: the median photos/s over ``--runs`` of

- ``read`` with the digit classifier (the default) and ``--no-digits``, on ``--photos`` synthetic photos
  (seed 0, the test split's renderer, PNG) and on the real SVHN test photos (1-130, when the real sample is
  beside the checkout: evaluation only, nothing is written beside them);
- ``read`` on photos of each ``--sizes`` class (synthetic photos resized to it, as PNG and as JPEG at quality
  90; ``W x H : count``), and ``predict()`` of one such file, warm (median of ``--one-photo`` calls);
- ``read --thorough`` beside the fast path on the real test photos (``--thorough-runs``; 0 skips it);

each with the ratio of this code to the baseline, and whether both wrote the same rows (the same numbers;
rows whose confidence differs in its last printed digits are counted apart).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = "100x50:256,400x200:128,1600x800:24,4000x3000:6"


def serve() -> int:
    """The worker: one JSON request a line on stdin, one JSON answer a line on stdout."""
    os.environ.setdefault("SVHN_RUNTIME", "onnx")
    import svhn_api
    from svhn_api.inference.bulk import read_photos
    from svhn_api.inference.predict import predict

    print(json.dumps({"code": str(Path(svhn_api.__file__).parent)}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        if job["op"] == "read":
            out = Path(job["out"])
            out.unlink(missing_ok=True)
            s = read_photos([job["folder"]], out, batch_size=job["batch_size"], progress=False,
                            digits=None if job["digits"] else False, thorough=job["thorough"])
            answer: dict[str, Any] = {"per_second": s.per_second, "read": s.read, "rechecked": s.rechecked}
        else:
            predict(job["file"], pipeline="fast")
            times = []
            for _ in range(job["runs"]):
                t0 = time.perf_counter()
                predict(job["file"], pipeline="fast")
                times.append(time.perf_counter() - t0)
            answer = {"ms": 1000 * statistics.median(times)}
        print(json.dumps(answer), flush=True)
    return 0


class Worker:
    """One code's worker process."""

    def __init__(self, code: Path, real: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(code), "SVHN_REAL": str(real), "SVHN_RUNTIME": "onnx"}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"], cwd=code, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.code = self._answer()["code"]

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a worker of bench_read stopped; its error is above")
        return json.loads(line)

    def ask(self, **job: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def same_rows(a: Path, b: Path) -> str:
    """Whether two results files hold the same rows: identical, or how many rows read another number, how many
    found another box (and the least IoU of the two boxes), how many differ in confidence or unsure only."""
    import csv

    from svhn_api.boxes import box_iou

    ra, rb = (list(csv.DictReader(open(p, newline="", encoding="utf-8"))) for p in (a, b))
    if ra == rb:
        return "same rows"
    if [r["path"] for r in ra] != [r["path"] for r in rb]:
        return "ROWS IN ANOTHER ORDER"
    pairs = list(zip(ra, rb, strict=True))
    numbers = sum(x["number"] != y["number"] for x, y in pairs)
    boxed = [(x["box"], y["box"]) for x, y in pairs if x["box"] != y["box"]]
    ious = [box_iou(*(tuple(float(v) for v in s.split()) for s in pair)) for pair in boxed if all(pair)]
    other = sum(x["number"] == y["number"] and x["box"] == y["box"] and x != y for x, y in pairs)
    return (f"{numbers} rows read another number, {len(boxed)} another box"
            + (f" (IoU with the baseline's >= {min(ious):.3f})" if ious else "")
            + f", {other} differ in confidence or unsure only")


def compare(workers: dict[str, Worker], tmp: Path, label: str, runs: int, **job: Any) -> str:
    """``read`` on one folder, the workers taking turns run by run; a line with the medians and ratio."""
    rates: dict[str, list[float]] = {name: [] for name in workers}
    answers: dict[str, dict[str, Any]] = {}
    for run in range(runs + 1):
        for name, w in workers.items():
            answers[name] = w.ask(op="read", out=str(tmp / f"{name}.csv"), **job)
            if run:
                rates[name].append(answers[name]["per_second"])
    med = {name: statistics.median(r) for name, r in rates.items()}
    parts = [f"{name} {med[name]:,.1f} photos/s ({', '.join(f'{v:,.0f}' for v in rates[name])})" for name in workers]
    line = f"{label:<52} " + "; ".join(parts)
    if "baseline" in workers:
        line += f"; {med['new'] / med['baseline']:.2f}x; {same_rows(tmp / 'new.csv', tmp / 'baseline.csv')}"
    if job.get("thorough"):
        line += f"; {answers['new']['rechecked']} of {answers['new']['read']} read again by the full pipeline"
    return line


def resized_sets(synthetic: Path, root: Path, sizes: str) -> list[tuple[str, Path, Path]]:
    """Per size class: (name, folder of PNG files, folder of JPEG files) made from the synthetic photos."""
    from PIL import Image

    sources = sorted(synthetic.glob("*.png"))
    out = []
    for spec in sizes.split(","):
        dims, count = spec.split(":")
        w, h = (int(v) for v in dims.split("x"))
        png, jpg = root / f"{dims}-png", root / f"{dims}-jpeg"
        png.mkdir()
        jpg.mkdir()
        for src in sources[:int(count)]:
            with Image.open(src) as img:
                big = img.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
            big.save(png / src.name)
            big.save((jpg / src.name).with_suffix(".jpg"), quality=90)
        out.append((dims, png, jpg))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a checkout (or `git archive` copy) whose code runs beside this one")
    ap.add_argument("--photos", type=int, default=2000, help="synthetic photos to read")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each measurement (after one warm-up run)")
    ap.add_argument("--batch-size", type=int, default=256, help="photos per batch (read --batch-size)")
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help="size classes, WxH:photos, comma-separated ('' skips)")
    ap.add_argument("--one-photo", type=int, default=9, help="predict() calls per size class, one photo warm")
    ap.add_argument("--thorough-runs", type=int, default=1, help="timed runs of read --thorough (0: skip)")
    ap.add_argument("--no-real", action="store_true", help="skip the real test photos")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        return serve()
    sys.path.insert(0, str(HERE))
    from svhn_api import paths
    from svhn_api.data.archives import iter_images
    from svhn_api.data.synthetic_archives import synth

    real = paths.real_svhn_dir()
    real_test = real / "images" / "test"
    codes = {"new": HERE, **({"baseline": a.baseline.resolve()} if a.baseline else {})}
    workers = {name: Worker(code, real) for name, code in codes.items()}
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            folder = tmp / "photos"
            folder.mkdir()
            archive = synth(tmp / "archives", train=0, extra=0, test=a.photos, progress=False)["test"]
            for name, data in iter_images(archive):
                (folder / name).write_bytes(data)
            print(f"machine: {os.cpu_count()} cores; ONNX Runtime; batch {a.batch_size}; medians of {a.runs} runs, "
                  "the codes taking turns run by run; " + "; ".join(f"{n}: {w.code}" for n, w in workers.items()))
            sets = {f"{a.photos:,} synthetic photos (PNG)": folder}
            if not a.no_real and real_test.is_dir():
                sets[f"{len(list(real_test.glob('*.png')))} real SVHN test photos (PNG)"] = real_test
            elif not a.no_real:
                print(f"real test photos skipped: not at {real_test}")
            for what, where in sets.items():
                for digits in (True, False):
                    how = "read" if digits else "read --no-digits"
                    print(compare(workers, tmp, f"{how}, {what}", a.runs, folder=str(where), digits=digits,
                                  thorough=False, batch_size=a.batch_size), flush=True)
            for dims, png, jpg in resized_sets(folder, tmp, a.sizes) if a.sizes else []:
                for kind, where in (("PNG", png), ("JPEG", jpg)):
                    n = len(list(where.iterdir()))
                    print(compare(workers, tmp, f"read, {n} photos {dims} {kind}", a.runs, folder=str(where),
                                  digits=True, thorough=False, batch_size=a.batch_size), flush=True)
                    one = sorted(where.iterdir())[0]
                    ms = {name: w.ask(op="one", file=str(one), runs=a.one_photo)["ms"] for name, w in workers.items()}
                    print(f"  predict() of one {dims} {kind} file, warm, median of {a.one_photo}: "
                          + "; ".join(f"{name} {v:.1f} ms" for name, v in ms.items())
                          + (f"; {ms['baseline'] / ms['new']:.2f}x" if "baseline" in ms else ""), flush=True)
            if a.thorough_runs and real_test.is_dir() and not a.no_real:
                for thorough in (False, True):
                    how = "read --thorough" if thorough else "read (fast path)"
                    print(compare(workers, tmp, f"{how}, real test photos", a.thorough_runs, folder=str(real_test),
                                  digits=True, thorough=thorough, batch_size=a.batch_size), flush=True)
    finally:
        for w in workers.values():
            w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
