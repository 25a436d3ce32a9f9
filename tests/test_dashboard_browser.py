"""The dashboard in a real headless Chromium: `streamlit run dashboard/app.py` on a free local port, the
Predict page, a corrupt upload (a friendly message, the app keeps running), then a photo whose reading must
appear and match ``svhn_api.inference.predict`` on the same bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dashboard.screenshots import CHROMIUM, browser_page, streamlit_server, upload_and_read, wait_idle
from tests.conftest import draw_number, make_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "artifacts" / "models"


def need_browser_and_model() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"real-browser check: no Chromium at {CHROMIUM} (apt-get install chromium)")
    if not (MODELS / "compact" / "model.keras").is_file():
        pytest.skip(f"real-browser check: the shipped model {MODELS / 'compact' / 'model.keras'} is not there yet")


def test_predict_page_reads_an_uploaded_photo(tmp_path):
    need_browser_and_model()
    store = make_store(tmp_path / "svhn_union.h5", {"train": 8, "validation": 4, "test": 8})
    img, _ = draw_number("258", np.random.default_rng(3))
    photo = tmp_path / "house.png"
    img.resize((img.width * 3, img.height * 3), Image.BILINEAR).save(photo)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    from svhn_api.inference.predict import predict

    expected = predict(photo.read_bytes(), model=MODELS / "compact").number or "–"
    env = {"SVHN_DATA": str(store), "SVHN_RUNS": str(tmp_path / "runs")}  # the shipped models, no runs
    with streamlit_server(env, log=tmp_path / "streamlit.log") as url, browser_page() as page:
        page.goto(f"{url}/predict")
        wait_idle(page)
        assert page.get_by_role("heading", name="Read a house number").is_visible()
        page.get_by_text("Upload a photo").click()
        wait_idle(page)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(bad))
        error = page.locator("[data-testid='stAlertContentError']").filter(has_text="Could not read broken.png")
        error.wait_for(timeout=60_000)
        reading = upload_and_read(page, url, photo, navigate=False)  # the same session goes on
        assert not page.locator("[data-testid='stAlertContentError']").count()
        page.screenshot(path=str(tmp_path / "predict.png"), full_page=True)
    assert reading == expected
    assert Image.open(io.BytesIO((tmp_path / "predict.png").read_bytes())).width > 0


TRUNCATED = """() => [...document.querySelectorAll(
        "[data-testid='stMetricLabel'] p, [data-testid='stMetricLabel'] div")]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""


def test_evaluate_metric_labels_are_not_cut_at_1400px(tmp_path):
    need_browser_and_model()
    store = make_store(tmp_path / "svhn_union.h5", {"train": 8, "validation": 6, "test": 6})
    env = {"SVHN_DATA": str(store), "SVHN_RUNS": str(tmp_path / "runs")}
    with streamlit_server(env, log=tmp_path / "streamlit.log") as url, browser_page(width=1400) as page:
        page.goto(f"{url}/evaluate")
        wait_idle(page)
        for split in ("validation", "test"):
            page.get_by_role("button", name=f"Evaluate the whole {split} split").click()
            wait_idle(page)
        labels = page.locator("[data-testid='stMetricLabel']").all_inner_texts()
        assert labels.count("Coverage at 98% accuracy") == 2, labels
        cut = page.evaluate(TRUNCATED)
        page.screenshot(path=str(tmp_path / "evaluate.png"), full_page=True)
    assert not cut, f"metric labels cut off: {cut}"


def test_whole_split_buttons_work_twice_in_two_sessions(tmp_path):
    """Each 'Evaluate the whole ... split' button, pressed twice in two browser sessions on one server: the
    second press (a cached result) must show it again, not a traceback, and neither button may go away."""
    need_browser_and_model()
    store = make_store(tmp_path / "svhn_union.h5", {"train": 8, "validation": 6, "test": 6})
    env = {"SVHN_DATA": str(store), "SVHN_RUNS": str(tmp_path / "runs")}
    splits = ("validation", "test")
    with streamlit_server(env, log=tmp_path / "streamlit.log") as url, browser_page() as first:
        second = first.context.browser.new_page(viewport={"width": 1400, "height": 900})  # its own context
        for page in (first, second):
            page.goto(f"{url}/evaluate")
            wait_idle(page)
        for round_ in range(2):
            for split in splits:
                for page in (first, second):   # both sessions press before either is waited for
                    page.get_by_role("button", name=f"Evaluate the whole {split} split").click()
                for n, page in enumerate((first, second)):
                    wait_idle(page)
                    where = f"session {n + 1}, {split} pressed {round_ + 1} time(s)"
                    errors = page.locator("[data-testid='stException']")
                    assert not errors.count(), f"{where}: {errors.first.inner_text()[:500]}"
                    for s in splits:
                        assert page.get_by_role("button", name=f"Evaluate the whole {s} split").is_visible(), where
                    shown = page.locator("[data-testid='stMarkdownContainer'] strong").all_inner_texts()
                    assert split in shown, f"{where}: the {split} results are not shown ({shown})"
        first.screenshot(path=str(tmp_path / "evaluate-twice.png"), full_page=True)


CUT_SELECTS = """() => [...document.querySelectorAll("[data-testid='stSidebar'] [data-testid='stSelectbox'] div")]
    .filter(e => e.children.length === 0 && e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""


def test_preprocessing_random_image_replaces_an_out_of_range_number_and_the_store_name_fits(tmp_path):
    """Issue 29: a number typed past the last image stayed in the "Image" field, red, after "Random image" (the
    browser keeps a number outside the field's bounds over the value the app sets); the sidebar cut off the
    store's name."""
    if not CHROMIUM.exists():
        pytest.skip(f"real-browser check: no Chromium at {CHROMIUM} (apt-get install chromium)")
    store = make_store(tmp_path / "svhn_union.h5", {"train": 8, "validation": 4, "test": 8})
    env = {"SVHN_DATA": str(store), "SVHN_RUNS": str(tmp_path / "runs")}
    with streamlit_server(env, log=tmp_path / "streamlit.log") as url, browser_page() as page:
        page.goto(f"{url}/preprocessing")
        wait_idle(page)
        field = page.locator("[data-testid='stNumberInput'] input")
        field.fill("5000")
        page.get_by_role("button", name="Random image").click()
        wait_idle(page)
        shown = page.locator("[data-testid='stMain']").inner_text()
        value = field.input_value()
        cut = page.evaluate(CUT_SELECTS)
        page.screenshot(path=str(tmp_path / "preprocessing.png"), full_page=True)
    assert "outside the allowed range" not in shown and value.isdigit() and 0 <= int(value) < 8, value
    assert not cut, f"sidebar pickers cut off: {cut}"
