"""Every dashboard page, run headless with streamlit's AppTest on a small store built by ``prepare`` from
archives written here (so the Preprocessing check finds the original photos).

The app is pointed at that store with ``SVHN_DATA``, at an empty runs folder with ``SVHN_RUNS``, and at an
empty folder in place of the shipped models (``svhn_api.paths.shipped_models_dir``; the app runs in this
process). Pages that need a model use the shipped one (``artifacts/models/compact``); those assertions skip
while it is not there.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dashboard import view_model
from svhn_api import paths
from svhn_api.data.archive_writer import write_archive
from svhn_api.data.download import write_manifest
from svhn_api.data.prepare import prepare
from tests.conftest import draw_number, make_store, random_numbers

pytestmark = pytest.mark.slow  # Streamlit AppTest runs of whole pages: the full suite, not the fast loop

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
SHIPPED = ROOT / "artifacts" / "models"
COUNTS = {"train": 40, "extra": 10, "test": 24}


def need_model() -> Path:
    if not (SHIPPED / "compact" / "model.keras").is_file():
        pytest.skip(f"model-dependent check: the shipped model {SHIPPED / 'compact' / 'model.keras'} is not "
                    "there yet (train it with pipelines/ or `python -m svhn_api train`)")
    return SHIPPED


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """``data/`` as prepare lays it out: ``archives/*.tar.gz`` and the store ``svhn_union.h5`` next to it."""
    root = tmp_path_factory.mktemp("data")
    folder = root / "archives"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for name, n in COUNTS.items():
        items = []
        for i, number in enumerate(random_numbers(n, rng)):
            img, boxes = draw_number(number, rng)
            items.append((f"{i + 1}.png", img, boxes))
        write_archive(folder / f"{name}.tar.gz", name, items)
    write_manifest(folder, [f"{n}.tar.gz" for n in COUNTS])
    prepare(folder, out=root / "svhn_union.h5", jobs=1, validation_size=5, progress=False, download=False)
    return root


@pytest.fixture
def app(data_dir, monkeypatch, tmp_path):
    """An AppTest of the dashboard on ``data_dir``; no models unless a test gives the folder to show as the
    shipped models."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SVHN_DATA", str(data_dir))
    monkeypatch.setenv("SVHN_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(paths, "shipped_models_dir", lambda: tmp_path / "no-models")

    def make(models: Path | None = None) -> AppTest:
        if models is not None:
            monkeypatch.setattr(paths, "shipped_models_dir", lambda: models)
        return AppTest.from_file(APP, default_timeout=120)

    return make


def page(at, path: str):
    at.run()
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success")
                     for e in getattr(at, kind))


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def array(v) -> np.ndarray:
    """A plotly trace array, which plotly may ship as a typed base64 buffer."""
    if isinstance(v, dict) and "bdata" in v:
        shape = [int(x) for x in str(v.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).reshape(shape)
    return np.asarray(v)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_overview_shows_the_data_card_and_what_next(app, data_dir):
    at = page(app(), "views/overview.py")
    assert at.title[0].value == "svhn-reader"
    assert {m.label: m.value for m in at.metric} == {"train": "45", "validation": "5", "test": "24"}
    assert str(data_dir / "svhn_union.h5") in texts(at)
    assert "No trained reader" in texts(at)
    assert [s.value for s in at.sidebar.selectbox][:1] == [str(data_dir / "svhn_union.h5")]
    assert len(at.get("page_link")) == 5


def test_explore_counts_histograms_and_filtered_samples(app, data_dir):
    at = page(app(), "views/explore.py")
    assert {m.label: m.value for m in at.metric} == {"train images": "45", "validation images": "5",
                                                      "test images": "24"}
    specs = charts(at)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert titles == ["Digits per number", "Digit frequency (all positions)", "Original photo sizes"]
    stats = view_model.store_stats(data_dir / "svhn_union.h5")
    test_bars = next(t for t in specs[0]["data"] if t["name"] == "test")
    assert array(test_bars["y"]).tolist() == stats["lengths"]["test"]
    assert len(at.image) == 24 and all(" · " in img.captions[0] for img in at.image)
    at.selectbox(key="grid_length").set_value("2").run()
    numbers = [img.captions[0].split(" · ")[1] for img in at.image]
    assert numbers and all(len(n) == 2 for n in numbers)
    at.selectbox(key="grid_length").set_value("5").run()
    assert "No 5-digit numbers" in texts(at)


def test_preprocessing_check_redoes_the_crop_from_the_original(app):
    at = page(app(), "views/preprocessing.py")
    captions = [c for img in at.image for c in img.captions]
    assert any(c.startswith("Original photo: digit boxes (green)") for c in captions)
    # no model selected: nothing to read the input layer's settings from, and the page says so
    assert any("what the network receives: not known (no model selected" in c for c in captions)
    assert any("32x32: the capstone's input" in c for c in captions)
    assert [s.value for s in at.success] == ["identical to the stored crop"]
    at.number_input(key="pre_index").set_value(5).run()
    assert not at.exception and [s.value for s in at.success] == ["identical to the stored crop"]
    at.selectbox(key="pre_split").set_value("validation").run()  # from train/extra: archives also here
    assert not at.exception and any(c.startswith("Original photo") for img in at.image for c in img.captions)


def test_preprocessing_without_the_archive_shows_the_stored_crop(app, tmp_path, monkeypatch):
    make_store(tmp_path / "alone.h5", {"test": 3})
    monkeypatch.setenv("SVHN_DATA", str(tmp_path / "alone.h5"))
    at = app()
    at.run()
    at.switch_page("views/preprocessing.py").run()
    assert not at.exception
    assert "Original photo not shown: the archive test.tar.gz is not on this machine" in texts(at)
    assert any("stored in the HDF5 store" in c for img in at.image for c in img.captions)


@pytest.fixture
def empty_test_split(app, tmp_path, monkeypatch):
    """The app on a store whose validation and test splits are empty (a store made from train only)."""
    store = make_store(tmp_path / "train_only.h5", {"train": 8, "validation": 0, "test": 0})
    monkeypatch.setenv("SVHN_DATA", str(store))
    return app


def test_pages_on_a_store_without_test_rows(empty_test_split):
    at = page(empty_test_split(), "views/explore.py")  # shows the train split
    assert {m.label: m.value for m in at.metric}["test images"] == "0" and len(at.image) == 8
    at = page(empty_test_split(), "views/preprocessing.py")
    assert any("stored in the HDF5 store" in c for img in at.image for c in img.captions)


def test_predict_page_warns_when_the_test_split_is_empty(empty_test_split):
    at = page(empty_test_split(need_model()), "views/predict.py")
    assert any("no rows in its test split" in w.value and "Prepare it again" in w.value for w in at.warning)
    assert not at.metric


def test_pages_on_an_empty_store_warn_instead_of_failing(app, tmp_path, monkeypatch):
    store = make_store(tmp_path / "empty.h5", {"train": 0, "validation": 0, "test": 0})
    monkeypatch.setenv("SVHN_DATA", str(store))
    for view in ("views/explore.py", "views/preprocessing.py"):
        at = page(app(), view)
        assert any("no rows at all" in w.value and "Prepare it again" in w.value for w in at.warning), view


def test_preprocessing_uses_the_models_own_input_layer(app):
    at = page(app(need_model()), "views/preprocessing.py")
    assert any("what the network receives: centre 54 crop, resized to 48x48" in c
               and "computed by compact's own input layer" in c for img in at.image for c in img.captions)


def test_first_run_on_an_empty_data_folder_opens_within_a_minute(app, tmp_path, monkeypatch):
    """A fresh clone: no store anywhere. The app renders and prepares a quick sample (for real), opens on it,
    and leaves the full sample to a background job."""
    from dashboard import first_run

    empty = tmp_path / "fresh-data"
    monkeypatch.setenv("SVHN_DATA", str(empty))
    monkeypatch.delenv(first_run.BUNDLED_ENV, raising=False)
    at = app()
    try:
        t0 = time.perf_counter()
        at.run(timeout=60)
        seconds = time.perf_counter() - t0
        assert not at.exception, at.exception
        assert "synthetic_quick_union.h5" in texts(at)
        assert {m.label: m.value for m in at.metric}["test"] == f"{first_run.QUICK_SAMPLE['test']:,}"
        assert [j.data_dir for j in first_run.STARTED][-1:] == [empty]
        print(f"first page on an empty data folder: {seconds:.1f} s")
        before = first_run.quick_store(empty).stat().st_mtime_ns
        at.run()
        assert not at.exception and first_run.quick_store(empty).stat().st_mtime_ns == before  # not redone
        at.switch_page("views/preprocessing.py").run()   # what a newcomer looks at first: the photo is there
        assert not at.exception and "Original photo not shown" not in texts(at)
        captions = [c for img in at.image for c in img.captions]
        assert any(c.startswith("Original photo: digit boxes") for c in captions), captions
        assert any("32x32: the capstone's input" in c for c in captions), captions
    finally:
        first_run.cancel_all()


def test_training_page_plots_each_card_history_and_the_command(app, tmp_path):
    models = tmp_path / "models"
    (models / "compact").mkdir(parents=True)
    (models / "compact" / "card.json").write_text(json.dumps({
        "architecture": {"name": "compact", "parameters": 220000}, "data": {"kind": "synthetic", "path": "x.h5"},
        "training": {"status": "complete", "epochs_done": 3, "steps": 30, "wall_seconds": 120,
                     "best_val_accuracy": 0.5, "best_epoch": 3, "config": {"epochs": 3},
                     "history": [{"epoch": e, "step": 10 * e, "loss": 3.0 / e, "val_accuracy": 0.1 * e,
                                  "learning_rate": 0.003, "seconds": 40.0} for e in (1, 2, 3)]}}))
    at = page(app(models), "views/training.py")
    assert at.subheader[0].value == "compact"
    specs = charts(at)
    assert [s["layout"]["title"]["text"] for s in specs] == ["Loss", "Accuracy", "Learning rate", "Seconds per epoch"]
    assert array(specs[0]["data"][0]["y"]).tolist() == [3.0, 1.5, 1.0]
    assert "best validation whole-number accuracy 50.0% (epoch 3)" in texts(at)
    assert any("python -m svhn_api train --data" in c.value for c in at.code)
    [command] = [c for c in at.code if "python -m svhn_api train --data" in c.value]
    assert command.proto.wrap_lines  # the command block wraps instead of being cut off
    for spec in specs:  # every chart says what its lines are
        assert spec["layout"]["showlegend"] is True, spec["layout"]["title"]["text"]
    assert [t["name"] for t in specs[0]["data"]] == ["training loss (mean over the epoch's batches)"]
    assert specs[2]["layout"]["yaxis"]["tickformat"] == ".1e"  # 3e-3, not "3m"
    assert "moving average" in texts(at)


def test_training_page_lists_every_shipped_model(app):
    """The shipped models include pretrained ones that were never trained here (the digit classifier, the
    scene-text models): each is listed, and none breaks the page for lack of a validation metric of ours."""
    at = page(app(need_model()), "views/training.py")
    assert not at.exception
    names = {h.value for h in at.subheader}
    assert {"compact", "localizer"} <= names and "digits" in names, names


def test_training_page_says_what_each_run_measured_and_why_it_stopped(app, tmp_path):
    """A localizer's validation figure is its mean IoU (not an accuracy); a run that used all its epochs says
    so, even when its patience ran out on the last one (recorded as early stopped)."""
    models = tmp_path / "models"
    history = [{"epoch": e, "loss": 1.0 / e, "val_accuracy": 0.5 + 0.01 * e} for e in range(1, 5)]
    for name, architecture, done, status in (("compact", "compact", 3, "early stopped"),
                                             ("localizer", "localizer", 4, "early stopped")):
        (models / name).mkdir(parents=True)
        (models / name / "card.json").write_text(json.dumps({
            "architecture": {"name": architecture}, "data": {"kind": "synthetic", "path": "x.h5"},
            "training": {"status": status, "epochs_done": done, "epochs_planned": 4, "patience": 2,
                         "best_val_accuracy": 0.7294, "best_epoch": done, "history": history[:done]}}))
    at = page(app(models), "views/training.py")
    compact, localizer = (c.value for c in at.caption if c.value.startswith("architecture "))
    assert "early stopped (no gain for 2 epochs)" in compact and "3 epochs of 4" in compact
    assert "best validation whole-number accuracy 72.9% (epoch 3)" in compact
    assert "reached its 4-epoch cap" in localizer and "early stopped" not in localizer
    assert "best validation mean IoU 0.729 (epoch 4)" in localizer and "accuracy" not in localizer
    titles = [s["layout"]["title"]["text"] for s in charts(at)]
    assert titles.count("Accuracy") == 1 and titles.count("Mean IoU") == 1
    iou = next(s for s in charts(at) if s["layout"]["title"]["text"] == "Mean IoU")
    assert iou["data"][0]["name"].startswith("validation mean IoU") and iou["layout"]["yaxis"]["tickformat"] != ".0%"


def test_overview_table_headers_fit_and_held_out_photos_say_so(app, tmp_path):
    models = tmp_path / "models"
    (models / "compact").mkdir(parents=True)
    (models / "compact" / "card.json").write_text(json.dumps({"architecture": {"name": "compact"}, "evaluations": [
        {"data": {"name": "real SVHN validation photos (103 train-split photos held out, split.json)",
                  "split": "train", "count": 103, "crop": "ground-truth union box expanded 30%"},
         "metrics": {"whole_number_accuracy": 0.835}, "evaluated": "2026-12-02T03:10:00Z"}]}))
    (models / "compact" / "model.keras").write_bytes(b"")   # listed as ready; the overview does not load it
    at = page(app(models), "views/overview.py")
    [table] = at.dataframe
    assert table.value["split"].tolist() == ["train (held out as validation)"]
    config = json.loads(table.proto.columns)
    for column in table.value.columns:   # every header in full: at most 7 px a character (14 px font), 14 px padding
        label, width = config[column]["label"], config[column]["width"]
        assert isinstance(width, int) and 7 * len(label) + 14 <= width, (column, label, width)
        assert config[column].get("help"), column


def test_overview_lists_recorded_evaluations_full_width_accuracy_first(app):
    at = page(app(need_model()), "views/overview.py")
    [table] = at.dataframe
    assert list(table.value.columns[:3]) == ["data", "crop", "whole-number accuracy"]
    top_level = [type(e).__name__ for e in at.main.children.values()]
    assert "Dataframe" in top_level, top_level  # not squeezed into the model column


def test_model_pages_explain_how_to_get_a_model(app):
    for path in ("views/predict.py", "views/evaluate.py"):
        at = page(app(), path)
        assert any("python -m svhn_api train" in w.value for w in at.warning), path


def test_predict_page_reads_a_test_image_and_shows_66_probabilities(app):
    at = page(app(need_model()), "views/predict.py")
    metrics = {m.label: m.value for m in at.metric}
    reading = metrics.get("Reading", metrics.get("Best guess (unsure)", "").removesuffix(" ?"))
    assert reading.isdigit() or reading == "–"
    assert metrics["Confidence"].endswith("%") and metrics["Answered in"].endswith(" ms")
    assert any(t.startswith("Truth: ") for t in texts(at).splitlines())
    heat = next(s for s in charts(at) if s["data"][0]["type"] == "heatmap")["data"][0]
    z = array(heat["z"])
    assert z.shape == (6, 11) and heat["x"][-1] == "none" and np.isnan(z[0, 7:]).all()
    assert np.nansum(z[1:], axis=1) == pytest.approx(np.ones(5), abs=1e-3)
    assert heat["y"] == ["length", "digit 1", "digit 2", "digit 3", "digit 4", "digit 5"]
    at.button(key="g7").click().run()  # the gallery picks test image 7
    assert at.number_input(key="pred_index").value == 7
    assert any(c.startswith("test #7 · 8.png") for img in at.image for c in img.captions)


def test_predict_page_shows_the_full_pipelines_candidates_and_why(app):
    """The full pipeline by default: the page names it and the threshold its one confidence was compared with,
    lists every candidate with both readers' readings and which was chosen, says why, and draws the boxes; the
    fast path on request, named as such, with no candidates."""
    from svhn_api.inference import calibration
    from svhn_api.inference.predict import default_pipeline, predict

    models = need_model()
    at = app(models)   # the shipped models, the scene-text ones with them
    if default_pipeline() != "full":
        pytest.skip("the scene-text models are not installed: the fast path only")
    img, _ = draw_number("409", np.random.default_rng(1))
    photo = Image.new("RGB", (img.width * 3, img.height * 3), (90, 90, 90))
    photo.paste(img, (img.width, img.height))
    expected = predict(photo, model=models / "compact")
    at = page(at, "views/predict.py")
    assert at.radio(key="pred_pipeline").value.startswith("Full pipeline")
    at.radio(key="pred_source").set_value("Upload a photo").run()
    at.file_uploader(key="pred_upload").set_value(("house.png", png(photo), "image/png")).run()
    assert not at.exception and not at.error
    shown = texts(at)
    sure_from = calibration.read().modes["whole photo"].sure_from
    assert "**Full pipeline**:" in shown and f"sure from {100 * sure_from:.1f}%" in shown, shown
    assert f"**Why this reading:** {expected.why}." in shown
    [table] = [d.value for d in at.dataframe if "our reader" in d.value.columns]
    assert list(table.columns) == list(view_model.CANDIDATE_COLUMNS) and len(table) == len(expected.candidates)
    assert list(table["found by"]) == [c.source for c in expected.candidates]
    assert list(table["chosen"]).count("✔") == 1
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Confidence"] == f"{100 * expected.confidence:.1f}%"   # the calibrated figure, the only one
    assert any(s["layout"]["title"]["text"].startswith("Our reader's 66 probabilities") for s in charts(at))
    if len(expected.candidates) > 1:
        assert any("every candidate box" in c for i in at.image for c in i.captions)
    at.radio(key="pred_pipeline").set_value("Fast path (ours alone)").run()
    assert not at.exception and not at.error
    assert "**Fast path**:" in texts(at) and not [d for d in at.dataframe if "our reader" in d.value.columns]
    fast = predict(photo, model=models / "compact", pipeline="fast")
    assert {m.label: m.value for m in at.metric}["Confidence"] == f"{100 * fast.confidence:.1f}%"


def test_predict_page_upload_good_bad_and_boxed(app):
    at = page(app(need_model()), "views/predict.py")
    at.radio(key="pred_source").set_value("Upload a photo").run()
    assert "Upload a photo" in texts(at)
    at.file_uploader(key="pred_upload").set_value(("notes.png", b"this is not an image", "image/png")).run()
    assert not at.exception and any("Could not read notes.png" in e.value for e in at.error)
    huge = png(Image.new("1", (8000, 6000)))  # small file, 48 megapixels: refused before decoding
    at.file_uploader(key="pred_upload").set_value(("huge.png", huge, "image/png")).run()
    assert not at.exception and any("Could not read huge.png" in e.value and "pixel limit" in e.value
                                    for e in at.error)
    at.file_uploader(key="pred_upload").set_value(("big.jpg", b"\xff\xd8" + bytes(11 << 20), "image/jpeg")).run()
    assert not at.exception and any("over the 10 MB upload limit" in e.value for e in at.error)
    img, boxes = draw_number("409", np.random.default_rng(1))
    photo = Image.new("RGB", (img.width * 3, img.height * 3), (90, 90, 90))
    photo.paste(img, (img.width, img.height))
    at.file_uploader(key="pred_upload").set_value(("house.png", png(photo), "image/png")).run()
    assert not at.exception and not at.error
    assert {"Reading", "Best guess (unsure)"} & {m.label for m in at.metric}
    at.checkbox(key="pred_use_box").check().run()
    for k, v in zip(("box_left", "box_top", "box_width", "box_height"),
                    (img.width + boxes[0].left, img.height + boxes[0].top, 3 * boxes[0].width, boxes[0].height),
                    strict=True):
        at.number_input(key=k).set_value(int(v))
    at.run()
    assert not at.exception and not at.error
    assert any("your box in red" in c for i in at.image for c in i.captions)


def test_predict_page_upload_shows_the_found_box_and_starts_the_box_form_from_it(app):
    """An upload read with no box: the photo large with the found box, beside it the crop the reader read.
    Ticking 'I know where the number is' starts from that found box (rounded), not the whole photo, so the
    reading stays the localizer's until the user changes the box."""
    from svhn_api.inference.predict import predict

    models = need_model()
    img, _ = draw_number("409", np.random.default_rng(1))
    photo = Image.new("RGB", (img.width * 3, img.height * 3), (90, 90, 90))
    photo.paste(img, (img.width, img.height))
    at = page(app(models), "views/predict.py")   # the shipped models, the localizer with them
    expected = predict(photo, model=models / "compact")
    if not expected.located:
        pytest.skip("no localizer installed: the photo is read whole")
    at.radio(key="pred_source").set_value("Upload a photo").run()
    at.file_uploader(key="pred_upload").set_value(("house.png", png(photo), "image/png")).run()
    assert not at.exception and not at.error
    captions = [c for i in at.image for c in i.captions]
    assert any(("the number found, in red" if len(expected.candidates) <= 1 else "the chosen one in red") in c
               for c in captions), captions
    assert any(c.startswith("What the reader read: the box expanded by 30%") for c in captions), captions
    at.checkbox(key="pred_use_box").check().run()
    assert not at.exception and not at.error
    start = tuple(at.number_input(key=k).value for k in ("box_left", "box_top", "box_width", "box_height"))
    assert start == view_model.rounded_box(expected.box, photo.size) != (0, 0, photo.width, photo.height)
    boxed = predict(photo, model=models / "compact", boxes=start)
    shown = {m.label: m.value for m in at.metric}
    assert shown.get("Reading", shown.get("Best guess (unsure)", "").removesuffix(" ?")) == (boxed.number or "–")
    assert any("your box in red" in c for i in at.image for c in i.captions)


def test_evaluate_page_64_samples_and_full_validation(app):
    at = page(app(need_model()), "views/evaluate.py")
    metrics = {m.label: m.value for m in at.metric}
    assert "Whole-number accuracy on these 24" in metrics  # the tiny test split has 24 rows
    right, wrong = (int(v) for v in metrics["Right / wrong"].split(" / "))
    assert right + wrong == 24
    marks = [m.value for m in at.markdown if m.value.startswith((":green[", ":red["))]
    assert len(marks) == 24 and sum(m.startswith(":green[") for m in marks) == right
    at.button(key="eval_draw").click().run()
    assert not at.exception and st_seed(at) == 1
    at.button(key="full_validation").click().run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert {"Whole-number accuracy", "Capstone per-position figure", "Coverage at 98% accuracy"} <= set(labels)
    titles = [s["layout"]["title"]["text"] for s in charts(at)]
    assert titles[:3] == ["Whole-number accuracy by number length", "Per-position digit accuracy",
                          "Accuracy vs coverage (answer only the most confident readings)"]
    at.checkbox(key="eval_whole_photo").check().run()
    at.button(key="full_test").click().run()
    assert not at.exception and not at.error
    shown = {m.label: m.value for m in at.metric}
    assert shown["Whole-photo accuracy"].endswith("%") and 0 <= float(shown["Localizer mean IoU"]) <= 1
    from svhn_api.inference.predict import default_pipeline

    if default_pipeline() == "full":   # which stage found each number, and why it was chosen
        tables = {d.value.columns[0]: d.value for d in at.dataframe if "photos" in d.value.columns}
        assert set(tables) == {"found by", "chosen by"}
        assert list(tables["found by"].columns) == ["found by", "photos", "read right", "share right"]
        assert tables["found by"]["photos"].sum() == tables["chosen by"]["photos"].sum() == 24
        assert set(tables["chosen by"]["chosen by"]) <= {"corroborated", "agreement", "recognizer", "reader"}
        assert "Read with the **full pipeline**" in texts(at)


def st_seed(at) -> int:
    return int(at.session_state["eval_seed"])


def test_predict_page_box_follows_the_photo(app):
    """A box given for one upload is forgotten when another photo comes: the checkbox, the box fields, the
    caption and the reading all belong to the new photo."""
    at = page(app(need_model()), "views/predict.py")
    at.radio(key="pred_source").set_value("Upload a photo").run()
    first, _ = draw_number("27", np.random.default_rng(5))
    second = draw_number("27", np.random.default_rng(6))[0].resize(first.size)   # the same size as the first
    at.file_uploader(key="pred_upload").set_value(("first.png", png(first), "image/png")).run()
    at.checkbox(key="pred_use_box").check().run()
    at.number_input(key="box_width").set_value(3)
    at.number_input(key="box_height").set_value(3).run()
    assert any("your box in red" in c for i in at.image for c in i.captions)
    at.file_uploader(key="pred_upload").set_value(("second.png", png(second), "image/png")).run()
    assert not at.exception and not at.error
    assert not at.checkbox(key="pred_use_box").value
    assert not [n for n in at.number_input if n.key and n.key.startswith("box_")]
    assert not any("your box" in c for i in at.image for c in i.captions)
    from svhn_api.inference.predict import predict

    fresh = predict(second, model=need_model() / "compact")
    shown = {m.label: m.value for m in at.metric}
    assert shown.get("Reading", shown.get("Best guess (unsure)", "").removesuffix(" ?")) == (fresh.number or "–")


def test_predict_page_errors_name_the_upload_once(app):
    at = page(app(need_model()), "views/predict.py")
    at.radio(key="pred_source").set_value("Upload a photo").run()
    at.file_uploader(key="pred_upload").set_value(("text.png", b"plain text", "image/png")).run()
    [error] = [e.value for e in at.error]
    assert error.startswith("Could not read text.png: not a readable image"), error
    assert "the upload" not in error and error.count("text.png") == 1


def test_predict_page_marks_a_low_confidence_reading_as_a_guess(app):
    at = page(app(need_model()), "views/predict.py")
    at.radio(key="pred_source").set_value("Upload a photo").run()
    at.file_uploader(key="pred_upload").set_value(("black.png", png(Image.new("RGB", (1, 1))), "image/png")).run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert "Best guess (unsure)" in labels and "Reading" not in labels
    assert any(w.value.startswith("Unsure:") for w in at.warning)


def test_keras_state_survives_the_script_runs(app, monkeypatch):
    """Streamlit clears the Keras session after every run unless the app stops it; clearing it threw away the
    models' compiled functions, so each reading paid 200-400 ms to rebuild them."""
    import keras

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: cleared.append(1))
    at = app()
    at.run()
    at.run()
    assert not at.exception and cleared == []


def test_a_data_folder_it_cannot_write_is_a_clear_error(app, tmp_path, monkeypatch):
    from dashboard import first_run

    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv("SVHN_DATA", str(locked))
    monkeypatch.delenv(first_run.BUNDLED_ENV, raising=False)

    def refused(data_dir, on_progress=None):
        raise PermissionError(13, "Permission denied", str(locked / "synthetic"))

    monkeypatch.setattr(first_run, "prepare_quick", refused)
    at = app()
    at.run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert f"Cannot write the data folder {locked}" in error and '`--user "$(id -u):$(id -g)"`' in error
    outside_code = re.sub(r"`[^`]*`", "", error)   # Streamlit renders $...$ outside code as math
    assert "$" not in outside_code, outside_code


def test_the_sidebar_offers_readers_only_and_a_localizer_never_reaches_the_pages(app, data_dir):
    """Issue 29: the Model picker offered the shipped ``digits`` and ``localizer``; picked, Evaluate said "a
    localizer, not a reader" and Predict blamed the photo. The reader picker lists readers only, says what the
    others are, and a non-reader put in its place by hand is not what the pages run."""
    from dashboard import selection

    models = need_model()
    if not (models / "localizer" / "model.keras").is_file() or not (models / "digits" / "model.keras").is_file():
        pytest.skip("the shipped localizer and digit classifier are not there")
    at = page(app(models), "views/overview.py")
    picker = at.sidebar.selectbox(key=selection.MODEL_KEY)
    assert picker.label == "Reader" and picker.options == ["compact"]
    helpers = next(c.value for c in at.sidebar.caption if c.value.startswith("Not readers:"))
    assert "digits (digit classifier" in helpers and "localizer (localizer: finds the number" in helpers
    for view in ("views/evaluate.py", "views/predict.py"):
        at = app(models)
        at.session_state[selection.MODEL_KEY] = str(models / "localizer")   # e.g. picked before this fix
        at.switch_page(view).run()
        assert not at.exception and not at.error, (view, [e.value for e in at.error])
        assert "not a reader" not in texts(at) and "capstone's 'photo' crop" not in texts(at)
        assert at.sidebar.selectbox(key=selection.MODEL_KEY).value == str(models / "compact")


def test_predict_page_does_not_blame_the_photo_for_a_models_error(app, monkeypatch):
    """Issue 29: a model's failure on an upload read "Could not read .../model.keras", as if the photo were
    at fault."""
    from svhn_api.errors import ModelError
    from svhn_api.inference import predict as predict_module

    at = page(app(need_model()), "views/predict.py")
    at.radio(key="pred_source").set_value("Upload a photo").run()

    def broken(*args, **kwargs):
        raise ModelError("/models/localizer/model.keras: the ONNX export is stale")

    monkeypatch.setattr(predict_module, "predict", broken)
    img, _ = draw_number("27", np.random.default_rng(5))
    at.file_uploader(key="pred_upload").set_value(("house.png", png(img), "image/png")).run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert not error.startswith("Could not read"), error
    assert error.startswith("house.png was not read: a model failed, not the photo.") and "stale" in error


def test_overview_table_shows_long_texts_in_full_and_drops_the_empty_coverage_column(app, tmp_path):
    """Issue 29: the evaluations table cut off its data and crop columns, and its "cov. 98%" was "–" in every
    row (whole-photo evaluations record no coverage). Long texts wrap in rows tall enough for them (Streamlit
    wraps only in rows over 64 px), and a column no row fills is left out."""
    import textwrap

    models = tmp_path / "models"
    (models / "compact").mkdir(parents=True)
    names = ["real SVHN validation photos zoomed out to the test split's framing (103, seeded)",
             "real SVHN format-2 32x32 digit crops of train images (1083)", "real SVHN test photos (130: 1, 2, 3, ...)"]
    crops = ["whole photo, number found by the localizer", "32x32 single-digit crop, read whole",
             "ground-truth union box expanded 30%"]
    (models / "compact" / "card.json").write_text(json.dumps({"architecture": {"name": "compact"}, "evaluations": [
        {"data": {"name": name, "split": "train", "count": 103, "crop": crop},
         "metrics": {"whole_number_accuracy": 0.8, "correct": 82, "count": 103}, "evaluated": "2026-12-02T03:10:00Z"}
        for name, crop in zip(names, crops, strict=True)]}))
    (models / "compact" / "model.keras").write_bytes(b"")
    at = page(app(models), "views/overview.py")
    [table] = at.dataframe
    assert "coverage at 98%" not in table.value.columns and "mean IoU" not in table.value.columns
    config, proto = json.loads(table.proto.columns), table.proto
    row_px = proto.row_height
    assert row_px > 64, row_px   # tall enough for Streamlit to wrap the cells' text
    lines = (row_px - 8) // 21
    for column in ("data", "crop", "split"):   # at most 7 px a character (14 px font), 16 px padding
        per_line = (config[column]["width"] - 16) // 7
        for text in table.value[column]:
            assert len(textwrap.wrap(text, per_line)) <= lines, (column, text, config[column]["width"], row_px)


def test_preprocessing_image_number_past_the_end_becomes_the_last_image(app):
    """Issue 29: an out-of-range "Image" number stayed in the field with a red error, even after "Random
    image" (the browser keeps a number outside the field's bounds over any value the app sets). The field has
    no bounds now; a number past either end becomes the last or first image."""
    at = page(app(), "views/preprocessing.py")
    at.number_input(key="pre_index").set_value(500).run()
    assert not at.exception and not at.error
    assert at.number_input(key="pre_index").value == COUNTS["test"] - 1
    assert any(f"test/{COUNTS['test']}.png" in m.value for m in at.markdown)
    at.number_input(key="pre_index").set_value(-3).run()
    assert not at.exception and at.number_input(key="pre_index").value == 0
    at.button(key="pre_random").click().run()
    assert not at.exception and 0 <= at.number_input(key="pre_index").value < COUNTS["test"]


def test_the_sidebar_store_name_fits_and_its_details_follow(app, data_dir):
    """Issue 29: the sidebar's store picker cut off "svhn_union.h5 (synthetic, union crop, 74 images)". It shows
    the file name (about 27 characters fit its width); what the store holds is written under it."""
    from dashboard import selection

    at = page(app(), "views/overview.py")
    picker = at.sidebar.selectbox(key=selection.STORE_KEY)
    assert picker.options == ["svhn_union.h5"]
    assert all(7 * len(o) <= 190 for o in picker.options)
    total = sum(COUNTS.values())
    assert any(f"union crop, {total:,} images" in c.value and "svhn_union.h5" in c.value for c in at.sidebar.caption)
