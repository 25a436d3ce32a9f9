"""Command-line start-up: how long a command takes to answer a bad input (or a run with nothing to do), and what
the interpreter costs.

    python -m benchmarks.bench_cli [--runs 7] [--predict]

Each figure is the median of ``--runs`` fresh processes (``python -m svhn_api ...``, as a user types it), run
from a temporary folder, printed with the machine's core count (a machine shared with other work reads
slower). Every input is decoded and checked before TensorFlow is imported, and TensorFlow is imported only when
there is something to read: a missing file, a text file named .png, an empty .png and a ``read`` whose photos
are all in its results file already are answered without it. ``--predict`` also times a whole ``predict`` of
one generated photo with the shipped model (TensorFlow start-up included, the price every command that needs a
model pays once).
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

CLI = ["-m", "svhn_api"]
#: label -> (arguments, exit statuses accepted: a bad input is 1 or 2, "nothing to do" is 0)
CASES: dict[str, tuple[list[str], tuple[int, ...]]] = {
    "python -c pass (the interpreter alone)": (["-c", "pass"], (0,)),
    "import svhn_api": (["-c", "import svhn_api"], (0,)),
    "svhn --help": ([*CLI, "--help"], (0,)),
    "predict missing.png (bad input)": ([*CLI, "predict", "missing.png"], (2,)),
    "predict text.png, a text file (bad input)": ([*CLI, "predict", "text.png"], (1, 2)),
    "predict empty.png, 0 bytes (bad input)": ([*CLI, "predict", "empty.png"], (1, 2)),
    "read house.png, already in done.csv": ([*CLI, "read", "house.png", "--out", "done.csv"], (0,)),
    "evaluate --data missing.h5 (bad input)": ([*CLI, "evaluate", "--data", "missing.h5"], (2,)),
}


def timed(args: list[str], cwd: Path, runs: int, expect: tuple[int, ...] | None = None) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if expect is not None and r.returncode not in expect:
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


def inputs(folder: Path) -> None:
    """The bad inputs, and a results file that already holds ``house.png`` (the header of ``read``'s CSV)."""
    photo(folder)
    (folder / "text.png").write_text("not an image, just a text file named .png\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "done.csv").write_text("path,number,confidence,unsure,box,error\nhouse.png,258,0.9,False,,\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="processes per figure (median reported)")
    ap.add_argument("--predict", action="store_true", help="also time a whole predict with the shipped model")
    a = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; median of {a.runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        inputs(cwd)
        for label, (args, expect) in CASES.items():
            median, times = timed(args, cwd, a.runs, expect)
            print(f"  {label:<44} {median:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times)})", flush=True)
        if a.predict:
            median, times = timed([*CLI, "predict", "house.png"], cwd, max(1, a.runs // 2), (0,))
            print(f"  {'predict house.png (TensorFlow + model)':<44} {median:6.2f} s   "
                  f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
