"""Screenshots of every dashboard page into ``docs/screenshots/`` with a real headless Chromium.

    python3 dashboard/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Starts ``streamlit run dashboard/app.py`` on a free local port (the shipped models and, unless ``SVHN_DATA``
says otherwise, the full embedded synthetic sample in the default data folder, prepared first when it is not
there: what a fresh clone shows once its first run is over), visits each page, does what a user would do there
(run the full validation evaluation, upload a photo) and saves ``<page>.png``. The helpers are shared with
``tests/test_dashboard_browser.py``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {"overview": "", "explore": "explore", "preprocessing": "preprocessing", "evaluate": "evaluate",
         "predict": "predict", "training": "training"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def streamlit_server(env: dict[str, str] | None = None, log: Path | None = None,
                     timeout: float = 240.0) -> Iterator[str]:
    """``streamlit run dashboard/app.py`` on 127.0.0.1 (headless, no telemetry); yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
           "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s; see {log}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            assert not isinstance(out, int)   # the log file opened above
            out.close()


@contextmanager
def browser_page(chromium: Path = CHROMIUM, width: int = 1400, height: int = 900) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_idle(page: Any, timeout: float = 120_000) -> None:
    """Wait until the app has finished its current run: the script is not running and no spinner shows."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_timeout(600)  # let a run that was just triggered start
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " const state = app && app.getAttribute('data-test-script-state');"
        " return state === 'notRunning' && !document.querySelector('[data-testid=\"stSpinner\"]'); }",
        timeout=timeout)
    page.wait_for_timeout(800)  # charts and images settle


def full_screenshot(page: Any, path: Path, width: int = 1400) -> None:
    """The whole page: Streamlit scrolls inside its main section, so grow the viewport to its height."""
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
        " return Math.max(m.scrollHeight, document.body.scrollHeight); }")
    page.set_viewport_size({"width": width, "height": min(int(height) + 40, 9000)})
    page.wait_for_timeout(800)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": 900})


def example_photo() -> bytes:
    """A house-number photo for the upload: a synthetic test photo rendered by ``svhn_api.synth`` when
    available, else a plain drawn number."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (120, 60), (40, 60, 90))
    ImageDraw.Draw(img).text((30, 20), "47", fill=(240, 240, 240))
    buf = io.BytesIO()
    img.resize((240, 120)).save(buf, "PNG")
    return buf.getvalue()


def upload_and_read(page: Any, url: str, photo: Path, timeout: float = 120_000, navigate: bool = True) -> str:
    """Open Predict (unless already there, in upload mode), upload ``photo`` and return the reading shown."""
    if navigate:
        page.goto(f"{url}/predict")
        wait_idle(page, timeout)
        page.get_by_text("Upload a photo").click()
        wait_idle(page, timeout)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(photo))
    metric = page.locator("[data-testid='stMetric']").filter(has_text=re.compile("Reading|Best guess"))
    metric.wait_for(timeout=timeout)
    wait_idle(page, timeout)
    return metric.locator("[data-testid='stMetricValue']").inner_text().strip().removesuffix(" ?")


def sample_store() -> Path:
    """The full embedded synthetic sample's store in the default data folder, prepared now when it is not there
    (a minute or two): the pages are shot on it, as a fresh clone shows them once its first run is over, whatever
    else the data folder holds."""
    from dashboard import first_run
    from svhn_api import paths

    data = paths.data_dir()
    data = data if data.is_absolute() else ROOT / data  # as the server sees it: it runs in ROOT
    store = first_run.full_store(data)
    if not first_run.ready(store):
        print(f"preparing the full synthetic sample in {data} for the screenshots (a minute or two)",
              file=sys.stderr)
        first_run.prepare_full(data)
    return store


def shoot(out: Path, chromium: Path, env: dict[str, str] | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with streamlit_server(env, log=out / "streamlit.log", timeout=600) as url, browser_page(chromium) as page:
        for name, route in PAGES.items():
            page.goto(f"{url}/{route}")
            wait_idle(page, 600_000)
            if name == "evaluate":
                button = page.get_by_role("button", name="Evaluate the whole validation split")
                if button.count():
                    button.click()
                    wait_idle(page, 600_000)
            if name == "predict":
                found = find_photo()
                photo = out / "house-number.png"
                photo.write_bytes(found or example_photo())
                upload_and_read(page, url, photo)   # no box given: the localizer's box and the crop it read
                photo.unlink()
                full_screenshot(page, out / "predict_upload.png")
                written.append(out / "predict_upload.png")
                page.goto(f"{url}/{route}")
                wait_idle(page, 600_000)
                page.get_by_text("Gallery: the first").click()
                wait_idle(page, 600_000)
            full_screenshot(page, out / f"{name}.png")
            written.append(out / f"{name}.png")
    (out / "streamlit.log").unlink(missing_ok=True)
    return written


def find_photo() -> bytes | None:
    """A 3-digit test photo of the default store, read from its archive (None when the store or its archive
    is missing)."""
    import numpy as np

    from dashboard import view_model
    from svhn_api import paths
    from svhn_api.data import photos

    data = paths.data_dir()
    data = data if data.is_absolute() else ROOT / data  # as the server sees it: it runs in ROOT
    stores, _ = view_model.list_stores(data)
    for entry in stores:
        rows = view_model.read(entry.path, "test", fields=("lengths", "sizes", "filenames"))
        ok = np.flatnonzero((rows["lengths"] == 3) & (rows["sizes"][:, 0] >= 120))
        archive = photos.find_archive(entry.path, "test")
        if len(ok) and archive is not None:
            buf = io.BytesIO()
            photos.original_photo(archive, str(rows["filenames"][ok[0]])).save(buf, "PNG")
            return buf.getvalue()
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--chromium", type=Path, default=CHROMIUM)
    a = ap.parse_args(argv)
    if not a.chromium.exists():
        print(f"no Chromium at {a.chromium}: install it (apt-get install chromium) or pass --chromium",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    if not os.environ.get("SVHN_DATA"):   # this process (find_photo) and the server's: the same store
        os.environ["SVHN_DATA"] = str(sample_store())
    for p in shoot(a.out, a.chromium):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
