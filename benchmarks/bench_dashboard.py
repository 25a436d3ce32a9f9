"""The dashboard's two waits: a fresh start on an empty data folder, and a reading after an upload.

    python -m benchmarks.bench_dashboard [--runs 7] [--photos DIR] [--skip-first-run]

- first run: ``streamlit run dashboard/app.py`` on an empty data folder, in headless Chromium, from the
  command to the first page idle (the quick sample rendered and prepared; its background job then stops
  with the server). One run: the median of several would take minutes.
- reading: the Predict page (Streamlit AppTest, the page's own script, warm model) from an upload to the
  page done, the whole page rerun included, median of ``--runs`` uploads of each photo; with the
  ``predict()`` call it makes beside it (the page's "Answered in").
Photos: ``--photos`` (e.g. ../shared/svhn-real/images/test), else generated ones. Printed with the core count.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def first_run_seconds() -> float:
    from dashboard.screenshots import browser_page, streamlit_server, wait_idle

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        env = {"SVHN_DATA": str(Path(tmp) / "data"), "SVHN_BUNDLED_SAMPLE": ""}
        with streamlit_server(env, log=Path(tmp) / "streamlit.log") as url, browser_page() as page:
            page.goto(url)
            wait_idle(page)
            return time.perf_counter() - t0


def photos(folder: Path | None, n: int = 4) -> list[tuple[str, bytes]]:
    if folder is not None:
        files = sorted(folder.glob("*.png"), key=lambda p: p.stem.zfill(8))[:n]
        return [(p.name, p.read_bytes()) for p in files]
    from tests.conftest import draw_number

    out = []
    for i in range(n):
        img, _ = draw_number(str(100 + 37 * i), np.random.default_rng(i))
        buf = io.BytesIO()
        img.resize((img.width * 4, img.height * 4)).save(buf, "PNG")
        out.append((f"generated-{i}.png", buf.getvalue()))
    return out


def reading_seconds(items: list[tuple[str, bytes]], runs: int) -> tuple[list[float], list[float]]:
    from streamlit.testing.v1 import AppTest

    from tests.conftest import make_store

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SVHN_DATA"] = str(make_store(Path(tmp) / "svhn_union.h5", {"train": 8, "test": 8}))
        os.environ["SVHN_RUNS"] = str(Path(tmp) / "runs")
        at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("views/predict.py").run()
        at.radio(key="pred_source").set_value("Upload a photo").run()
        page, answered = [], []
        for r in range(runs + 1):
            for name, data in items:
                t0 = time.perf_counter()
                at.file_uploader(key="pred_upload").set_value((f"{r}-{name}", data, "image/png")).run()
                seconds = time.perf_counter() - t0
                shown = {m.label: m.value for m in at.metric}
                if at.exception or "Answered in" not in shown:
                    raise RuntimeError(f"{name}: the page did not read it: {at.exception or shown}")
                if r:  # the first round warms every photo size
                    page.append(seconds)
                    answered.append(float(shown["Answered in"].split()[0]) / 1000)
        return page, answered


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="uploads of each photo timed (after one warm-up round)")
    ap.add_argument("--photos", type=Path, default=None, help="a folder of PNG photos to upload (first 4)")
    ap.add_argument("--skip-first-run", action="store_true", help="only time readings")
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    if not a.skip_first_run:
        print(f"first run, empty data folder -> first page idle in Chromium: {first_run_seconds():.1f} s")
    items = photos(a.photos)
    sizes = ", ".join(f"{Image.open(io.BytesIO(d)).size[0]}x{Image.open(io.BytesIO(d)).size[1]}" for _, d in items)
    page, answered = reading_seconds(items, a.runs)
    print(f"reading after an upload ({len(items)} photos: {sizes}; {a.runs} rounds): page rerun median "
          f"{1000 * statistics.median(page):.0f} ms (max {1000 * max(page):.0f}), predict() inside it median "
          f"{1000 * statistics.median(answered):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
