"""Command-line start-up: how long a command takes to answer a bad input, and what the interpreter costs.

    python -m benchmarks.bench_cli [--runs 7] [--predict]

Each figure is the median of ``--runs`` fresh processes (``python -m svhn_api ...``, as a user types it), run
from a temporary folder, printed with the machine's core count (a machine shared with other work reads
slower). A bad input is answered before TensorFlow is imported; ``--predict`` also times a whole
``predict`` of one generated photo with the shipped model (TensorFlow start-up included, the price every
command that needs a model pays once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "python -c pass (the interpreter alone)": ["-c", "pass"],
    "import svhn_api": ["-c", "import svhn_api"],
    "svhn --help": ["-m", "svhn_api", "--help"],
    "predict missing.png (bad input)": ["-m", "svhn_api", "predict", "missing.png"],
    "evaluate --data missing.h5 (bad input)": ["-m", "svhn_api", "evaluate", "--data", "missing.h5"],
}


def timed(args: list[str], cwd: Path, runs: int, expect: int | None = None) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if expect is not None and r.returncode != expect:
            raise SystemExit(f"{' '.join(args)}: exit status {r.returncode}, expected {expect}\n{r.stderr}")
    return statistics.median(times), times


def photo(folder: Path) -> Path:
    """A 3-digit house number drawn with PIL's default font (no test helpers needed)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (96, 48), (200, 190, 170))
    ImageDraw.Draw(img).text((20, 8), "258", fill=(20, 20, 20), font_size=30)
    path = folder / "house.png"
    img.save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="processes per figure (median reported)")
    ap.add_argument("--predict", action="store_true", help="also time a whole predict with the shipped model")
    a = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; median of {a.runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for label, args in CASES.items():
            expect = 2 if "bad input" in label else 0
            median, times = timed(args, cwd, a.runs, expect)
            print(f"  {label:<42} {median:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times)})")
        if a.predict:
            median, times = timed(["-m", "svhn_api", "predict", str(photo(cwd))], cwd, max(1, a.runs // 2), 0)
            print(f"  {'predict house.png (TensorFlow + model)':<42} {median:6.2f} s   "
                  f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
