"""dashboard.view_model: store listing and statistics, sample grids, original photos read through the archive
index, preprocessing steps, model cards."""

from __future__ import annotations

import io
import json
import tarfile
import time

import h5py
import numpy as np
import pytest
from PIL import Image

from dashboard import view_model
from svhn_api.boxes import union
from svhn_api.data import photos
from svhn_api.data.preprocess import capstone_tiles, crop_capstone, crop_union
from svhn_api.data.store import read
from svhn_api.errors import ArchiveError
from svhn_api.models import card as cards
from svhn_api.records import DigitBox
from tests.conftest import make_store


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def write_tar_gz(path, items, folder="test"):
    """A tar.gz in the official layout (``<folder>/<name>``) holding ``items`` ``[(name, bytes)]``."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in items:
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def noise_png(w, h, seed):
    return png(Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """data/ with a real-looking store, a synthetic one, a broken .h5 and the store's test archive."""
    root = tmp_path_factory.mktemp("data")
    store = make_store(root / "svhn_union.h5", {"train": 40, "validation": 8, "test": 12}, seed=1)
    with h5py.File(store, "a") as f:  # made "from" the official test archive (by its checksum): real data
        f.attrs["archives"] = json.dumps({"test": "790d9c8d42f1fcbd219b59956c853a81"})
    (root / "synthetic").mkdir()
    make_store(root / "synthetic" / "synthetic_union.h5", {"train": 8, "test": 4}, seed=2)
    (root / "half.h5").write_bytes(b"not hdf5")
    rows = read(store, "test", fields=("sizes", "filenames"))
    items = [(f, noise_png(int(w), int(h), i)) for i, (f, (w, h)) in enumerate(zip(rows["filenames"],
                                                                                   rows["sizes"], strict=True))]
    (root / "archives").mkdir()
    write_tar_gz(root / "archives" / "test.tar.gz", items)
    return root


def test_list_stores_puts_real_first_and_reports_broken(data_dir):
    stores, broken = view_model.list_stores(data_dir)
    assert [s.path.name for s in stores] == ["svhn_union.h5", "synthetic_union.h5"]
    assert [s.kind for s in stores] == ["real", "synthetic"]
    assert "svhn_union.h5 (real, union crop, 60 images)" == stores[0].label
    assert len(broken) == 1 and "half.h5" in broken[0]
    assert view_model.list_stores(data_dir / "nowhere") == ([], [])


def test_store_stats_and_card(data_dir):
    path = data_dir / "svhn_union.h5"
    stats = view_model.store_stats(path, max_sizes=5)
    assert stats["counts"] == {"train": 40, "validation": 8, "test": 12}
    lengths = read(path, "train", fields=("lengths",))["lengths"]
    assert stats["lengths"]["train"] == [int((lengths == k).sum()) for k in range(1, 6)]
    assert sum(stats["digits"]["train"]) == int(lengths.sum())
    assert stats["sizes"]["train"].shape == (5, 2) and stats["size_rows"]["train"] == 40
    card = view_model.store_card(path)
    assert card["kind"] == "real" and card["crop"] == "union" and card["total"] == 60


def test_sample_grid_filters_by_length_and_draws_boxes(data_dir):
    path = data_dir / "svhn_union.h5"
    lengths = read(path, "train", fields=("lengths",))["lengths"]
    idx = view_model.sample_indices(path, "train", n=5, length=2, seed=3)
    assert len(idx) == min(5, int((lengths == 2).sum())) and all(lengths[i] == 2 for i in idx)
    assert list(idx) == sorted(idx)
    samples = view_model.sample_grid(path, "train", idx, scale=2)
    assert [s.index for s in samples] == list(idx) and all(len(s.number) == 2 for s in samples)
    plain = view_model.sample_grid(path, "train", idx[:1], scale=2, draw=False)[0].image
    assert samples[0].image.size == (128, 128)
    assert np.any(np.asarray(samples[0].image) != np.asarray(plain))  # boxes were drawn
    assert view_model.contact_sheet(samples, columns=3).width == 3 * (128 + 4) + 4


def test_boxes_in_crop_match_the_crop():
    boxes = [DigitBox(1, 20, 10, 10, 20), DigitBox(2, 30, 10, 10, 20)]
    mapped = view_model.boxes_in_crop(boxes, (100, 50), 64)
    u = union([DigitBox(0, *m) for m in mapped])
    assert u[0] == pytest.approx(64 * 3 / 26, abs=1.0) and u[2] == pytest.approx(64 * 20 / 26, abs=2.0)


def test_original_image_reads_through_the_archive_index(tmp_path):
    items = [(f"{i}.png", noise_png(60 + i, 40, i)) for i in range(1, 4)]
    archive = write_tar_gz(tmp_path / "test.tar.gz", items)
    assert photos.original_photo(archive, "2.png").size == (62, 40)
    with pytest.raises(ArchiveError, match="no image named"):
        photos.original_photo(archive, "99.png")


def test_capstone_steps_are_the_preprocess_tiles():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    boxes = [DigitBox(1, 5, 5, 10, 20), DigitBox(2, 18, 6, 11, 21)]
    steps, _ = view_model.preprocess_steps(img, boxes)
    assert np.array_equal(np.asarray(steps["capstone_tiles"]), np.concatenate(capstone_tiles(img, boxes), axis=1))
    assert np.array_equal(np.asarray(steps["capstone"]), crop_capstone(img, boxes)[:, :, 0])
    outside = view_model.preprocess_steps(img, [*boxes, DigitBox(3, 70, 5, 5, 5)])[0]
    assert "capstone" not in outside and "boxes" in outside  # prepare leaves such a photo out in capstone mode


def test_row_view_redoes_preprocessing_from_the_original(data_dir):
    store = data_dir / "svhn_union.h5"
    view = view_model.row_view(store, "test", 2)
    assert view.original is not None and view.original.size == view.size and not view.missing
    assert set(view.steps) >= {"boxes", "union", "capstone_tiles", "capstone"}
    assert view.steps["union"].size == (64, 64) and view.steps["capstone"].size == (32, 32)
    assert np.array_equal(np.asarray(view.steps["union"]), crop_union(view.original, union(view.boxes)))
    assert view.rects["union"] == union(view.boxes)
    # rows whose archive is not here still show their stored crop, with the reason
    train = view_model.row_view(store, "train", 0)
    assert train.original is None and "train.tar.gz" in train.missing and train.stored.shape == (64, 64, 3)


def test_row_view_notices_an_archive_that_does_not_match(tmp_path):
    store = make_store(tmp_path / "s.h5", {"test": 2}, seed=5)
    (tmp_path / "archives").mkdir()
    write_tar_gz(tmp_path / "archives" / "test.tar.gz", [("1.png", noise_png(3, 3, 0))])
    view = view_model.row_view(store, "test", 0)
    assert view.original is None and "not the one the store was made from" in view.missing


def test_all_models_lists_the_shipped_models_then_the_runs(tmp_path, monkeypatch):
    from svhn_api import paths

    shipped, runs = tmp_path / "shipped", tmp_path / "my-runs"
    for folder in (shipped / "compact", runs / "deep", runs / "compact"):
        folder.mkdir(parents=True)
        (folder / "card.json").write_text(json.dumps({"architecture": {"name": folder.name}}))
    monkeypatch.setattr(paths, "shipped_models_dir", lambda: shipped)
    monkeypatch.setenv("SVHN_RUNS", str(runs))
    assert view_model.model_folders() == (shipped, runs)
    assert [(m.name, m.path) for m in view_model.all_models()] == [
        ("compact", shipped / "compact"), ("my-runs/compact", runs / "compact"), ("my-runs/deep", runs / "deep")]


def test_models_cards_and_history(tmp_path):
    good = tmp_path / "compact"
    good.mkdir()
    (good / "card.json").write_text(json.dumps({"architecture": {"name": "compact"}, "training": {"history": [
        {"epoch": 1, "loss": 2.0, "val_accuracy": 0.5}, {"epoch": 2, "loss": 1.0, "val_accuracy": 0.7}]}}))
    other = tmp_path / "deep"
    other.mkdir()
    (other / "card.json").write_text(json.dumps({"training": {"history": [
        {"loss": 3.0}, {"loss": 2.0}, {"loss": float("nan"), "note": "text"}]}}))
    for bad, text in (("broken", "{"), ("malformed", json.dumps({"architecture": "compact"}))):
        (tmp_path / bad).mkdir()
        (tmp_path / bad / "card.json").write_text(text)
    models = view_model.list_models(tmp_path)
    assert [m.name for m in models] == ["compact", "deep"]   # unreadable cards are skipped, not raised
    assert not models[0].ready
    (good / "model.keras").write_bytes(b"")
    assert models[0].ready
    assert view_model.training_history(models[0].card) == {"epoch": [1.0, 2.0], "loss": [2.0, 1.0],
                                                        "val_accuracy": [0.5, 0.7]}
    assert view_model.training_history(models[1].card) == {"epoch": [1.0, 2.0, 3.0], "loss": [3.0, 2.0, None]}
    assert view_model.training_history(cards.ModelCard()) == {}


class FakeLayer:
    def __init__(self, name, **config):
        self.name, self.config = name, {"name": name, "trainable": True, **config}

    def get_config(self):
        return dict(self.config)


class FakeModel:
    def __init__(self, *layers, input_shape=(None, 32, 32, 1)):
        self.layers, self.input_shape = list(layers), input_shape


def test_input_config_is_read_from_the_models_input_layer():
    config = {"crop": 40, "size": 20, "gray": True, "norm": "scale"}
    net = FakeModel(FakeLayer("image"), FakeLayer("input_adapter", **config), FakeLayer("heads", units=66))
    assert view_model.input_layer(net) is net.layers[1]
    assert view_model.input_config(net) == config
    assert not hasattr(view_model, "PREPARE")  # no hand-kept mirror of the layer's arguments
    stored = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    seen, got, exact = view_model.network_input(net, stored)  # another input shape: approximated from the config
    assert got == config and not exact and seen.size == (20, 20) and seen.mode == "L"
    assert view_model.input_config(FakeModel(FakeLayer("image"))) is None
    assert view_model.network_input(object(), stored) is None


def test_network_input_runs_a_keras_models_own_input_layer():
    keras = pytest.importorskip("keras")

    class Half(keras.layers.Layer):  # a stand-in input layer: keeps every other pixel, no normalisation
        def __init__(self, crop=None, size=None, gray=False, norm="scale", **kw):
            super().__init__(**kw)
            self.crop, self.size, self.gray, self.norm = crop, size, gray, norm

        def call(self, x):
            return keras.ops.cast(x, "float32")[:, ::2, ::2, :]

        def get_config(self):
            return {**super().get_config(), "crop": self.crop, "size": self.size, "gray": self.gray,
                    "norm": self.norm}

    inp = keras.Input((8, 8, 3), dtype="uint8")
    net = keras.Model(inp, keras.layers.Flatten()(Half(size=4, name="input_adapter")(inp)))
    stored = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    seen, config, exact = view_model.network_input(net, stored)
    assert exact and config == {"crop": None, "size": 4, "gray": False, "norm": "scale"}
    want = stored[::2, ::2].astype(float)
    np.testing.assert_allclose(np.asarray(seen), np.round((want - want.min()) * 255 / np.ptp(want)))


def test_shared_results_compute_once_for_concurrent_callers():
    """Two sessions asking for the same whole-split result at once: one computes, the other waits for it (and
    follows its progress); neither fails."""
    import threading

    shared = view_model.SharedResults()
    started, release, calls = threading.Event(), threading.Event(), []

    def work(report):
        calls.append(1)
        report(1, 4)
        started.set()
        assert release.wait(10)
        report(4, 4)
        return {"answer": 42}

    got, seen_by_waiter = {}, []
    first = threading.Thread(target=lambda: got.setdefault("first", shared.compute("k", work)))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: got.setdefault("second", shared.compute(
        "k", work, lambda done, total: seen_by_waiter.append((done, total)), poll=0.01)))
    second.start()
    time.sleep(0.1)
    release.set()
    first.join(10)
    second.join(10)
    assert calls == [1] and got == {"first": {"answer": 42}, "second": {"answer": 42}}
    assert (1, 4) in seen_by_waiter
    assert shared.get("k") == {"answer": 42} and shared.get("other") is None
    assert shared.compute("k", work) == {"answer": 42} and calls == [1]   # a second press: kept


def test_shared_results_forget_failures_and_old_entries():
    shared = view_model.SharedResults(max_entries=2)

    def broken(report):
        raise ValueError("no such split")

    with pytest.raises(ValueError, match="no such split"):
        shared.compute("k", broken)
    assert shared.get("k") is None
    assert shared.compute("k", lambda report: 1) == 1   # tried again, not the old error
    shared.compute("b", lambda report: 2)
    shared.compute("c", lambda report: 3)
    assert [shared.get(k) for k in ("k", "b", "c")] == [None, 2, 3]


def test_rounded_box_fits_the_box_form():
    assert view_model.rounded_box((10.4, 5.6, 30.5, 20.2), (100, 50)) == (10, 6, 30, 20)
    assert view_model.rounded_box((-3.2, 49.7, 140.0, 0.2), (100, 50)) == (0, 49, 100, 1)


def test_photo_with_box_is_large_with_a_visible_box():
    img = Image.new("RGB", (120, 60), (0, 0, 0))
    shown = view_model.photo_with_box(img, (30, 15, 60, 30), width=720)
    assert shown.size == (720, 360)
    a = np.asarray(shown)
    red = view_model.BOX_COLOURS["expanded"]
    left_edge = a[150:210, 180:200]   # the box's left side at x = 30 * 6 = 180, a few pixels thick
    assert (left_edge == red).all(axis=2).any(axis=0).sum() >= 3
    assert view_model.photo_with_box(img, None, width=240).size == (240, 120)


def test_reader_crop_is_what_predict_reads():
    from svhn_api.inference.predict import model_input

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (80, 160, 3), dtype=np.uint8))
    crop = view_model.reader_crop(img, (40, 20, 50, 30), (64, 64, 3), size=256)
    assert crop.size == (256, 256)
    small = np.asarray(crop)[::4, ::4]
    assert np.array_equal(small, model_input(img, (64, 64, 3), (40.0, 20.0, 50.0, 30.0)))
    assert view_model.reader_crop(img, None, (64, 64, 1)).size == (256, 256)


def training_card(architecture, status, epochs_done, planned=40, patience=8, best=0.7294, minutes=55.0):
    return cards.ModelCard.from_dict({
        "architecture": {"name": architecture},
        "training": {"status": status, "epochs_done": epochs_done, "epochs_planned": planned, "patience": patience,
                     "minutes_budget": minutes, "best_val_accuracy": best, "best_epoch": 32}})


def test_a_localizers_validation_metric_is_its_mean_iou_not_an_accuracy():
    localizer, reader = training_card("localizer", "complete", 40), training_card("compact", "complete", 40)
    assert view_model.card_task(localizer) == "locate" and view_model.card_task(reader) == "read"
    assert view_model.best_validation(localizer) == "best validation mean IoU 0.729 (epoch 32)"
    assert view_model.best_validation(reader) == "best validation whole-number accuracy 72.9% (epoch 32)"
    unknown = cards.ModelCard.from_dict({"architecture": {"name": "mine"}, "input": {"crop": "photo"}})
    assert view_model.card_task(unknown) == "locate" and view_model.best_validation(unknown) is None
    detector = training_card("detector", "complete", 40)
    assert view_model.card_task(detector) == "detect"
    assert view_model.best_validation(detector) == "best validation found share (IoU >= 0.5) 72.9% (epoch 32)"


@pytest.mark.parametrize("status,done,expected", [
    ("early stopped", 40, "reached its 40-epoch cap"),   # patience ran out on the last epoch: the cap stopped it
    ("complete", 40, "reached its 40-epoch cap"),
    ("early stopped", 14, "early stopped (no gain for 8 epochs)"),
    ("time limit", 23, "stopped at its time budget (55 min)"),
    ("training", 3, "not finished (in progress, or interrupted: the same command resumes it)"),
])
def test_how_training_ended_follows_what_the_run_recorded(status, done, expected):
    assert view_model.how_training_ended(training_card("compact", status, done).training) == expected


def test_evaluation_rows_say_when_train_photos_were_held_out():
    card = cards.ModelCard.from_dict({"evaluations": [
        {"data": {"name": "real SVHN validation photos (103 train-split photos held out, split.json)",
                  "split": "train", "count": 103, "crop": "whole photo, number found by the localizer"},
         "metrics": {"whole_number_accuracy": 0.8058, "mean_iou": 0.74951}, "evaluated": "2026-12-02T03:10:00Z"},
        {"data": {"name": "real SVHN validation photos zoomed out to the test split's framing (103, seeded)",
                  "split": "train", "count": 103, "crop": "whole photo, number found by the localizer"},
         "metrics": {"whole_number_accuracy": 0.718}},
        {"data": {"name": "real SVHN format-2 digit crops", "split": "train", "count": 10, "crop": "32x32 crop"},
         "metrics": {"whole_number_accuracy": 0.5}},
        {"data": {"name": "x", "split": "test", "crop": "ground-truth union box expanded 30%, 64x64 RGB"},
         "metrics": {"whole_number_accuracy": 0.9, "coverage": {"coverage_at_98": 0.5}}}]})
    held, zoomed, crops, test = view_model.evaluation_rows(card)
    assert list(held) == list(view_model.EVALUATION_COLUMNS)
    assert held["split"] == "train (held out as validation)" and held["mean IoU"] == "0.750"
    assert held["crop"] == "whole photo, localizer" and held["evaluated"] == "2026-12-02"
    assert zoomed["split"] == "train (held out as validation)"
    assert crops["split"] == "train" and crops["mean IoU"] == "–" and crops["crop"] == "32x32 crop"
    assert test["crop"] == "ground-truth box +30%, 64x64 RGB" and test["coverage at 98%"] == "50.0%"


def test_reader_crop_of_a_box_partly_outside_is_clipped_quietly():
    import warnings

    img = Image.new("RGB", (10, 10), (200, 0, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # predict() has warned about such a box already: no second warning
        crop = view_model.reader_crop(img, (5, 5, 10, 10), (64, 64, 3))
    assert crop.size == (256, 256)


def test_a_pretrained_models_card_says_where_its_weights_come_from():
    digits = cards.ModelCard.from_dict({
        "architecture": {"name": "digits"},
        "data": {"kind": "real", "crops": 73257, "pretrained": {"package": "ccexam", "version": "1.0.0",
                                                                "license": "MIT"}},
        "training": {"status": "pretrained", "epochs_done": 0, "steps": 0}})
    assert view_model.training_facts(digits) == [
        "architecture digits", "pretrained by ccexam 1.0.0, not trained here (MIT license)",
        "on 73,257 real digit crops"]
    trained = view_model.training_facts(training_card("compact", "complete", 40, minutes=55.0))
    assert trained[2] == "reached its 40-epoch cap" and trained[3] == "40 epochs of 40"


def test_the_input_layer_settings_are_read_from_a_keras_file_without_keras(tmp_path):
    """Where Keras is not installed (the model runs on ONNX Runtime), the settings come from the file itself."""
    from svhn_api.models import architectures
    from svhn_api.models import io as model_io

    for name in ("compact", "capstone"):
        net = architectures.build(name, (64, 64, 3) if name == "compact" else (32, 32, 1))
        path = model_io.save(net, tmp_path / name)
        assert view_model.input_config_in_file(path) == view_model.input_config(net)
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    assert view_model.input_config_in_file(tmp_path / "broken.keras") is None


def test_model_kinds_come_from_the_library_and_only_readers_are_readers(tmp_path):
    """Issue 29: the shipped digit classifier (architecture "digits", unknown to ``models.task``) and the
    localizer were offered as readers. Their kind is the library's (``models.io.card_task``: the card's
    recorded output shape), and ``readers`` keeps only the readers."""
    from svhn_api.models import io as model_io

    shipped = {m.name: m for m in view_model.list_models(view_model.paths.shipped_models_dir())}
    if not {"compact", "digits", "localizer"} <= set(shipped):
        pytest.skip("the shipped models are not all there")
    assert {name: m.task for name, m in shipped.items()}.items() >= {
        "compact": "read", "digits": "classify", "localizer": "locate"}.items()
    for m in shipped.values():   # the card says what loading the model says
        assert m.task == model_io.load(m.path).task, m.name
    assert shipped["digits"].kind == "digit classifier" and shipped["localizer"].kind == "localizer"
    assert [m.name for m in view_model.readers(list(shipped.values()))] == ["compact"]
    assert view_model.card_task(shipped["digits"].card) == "classify"
    # a run's card: by its recorded output shape, else by its architecture's name
    expected = {"a": ({"architecture": {"name": "mine", "output": {"shape": [4]}}}, "locate"),
                "b": ({"architecture": {"name": "mine", "output": {"shape": [6, 11]}}}, "read"),
                "c": ({"architecture": {"name": "deep"}}, "read"),
                "d": ({"architecture": {"name": "localizer"}}, "locate"),
                "e": ({"architecture": {"name": "mine"}}, None)}
    for name, (card, _) in expected.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "card.json").write_text(json.dumps(card))
    listed = {m.name: m for m in view_model.list_models(tmp_path)}
    assert {k: m.task for k, m in listed.items()} == {k: task for k, (_, task) in expected.items()}
    assert listed["e"].kind == "model of unknown kind" and not listed["e"].is_reader


@pytest.mark.parametrize("size", [(110, 60), (220, 110), (40, 100)])
def test_the_original_photo_is_shown_enlarged_with_its_boxes_scaled(size):
    """Issue 29: the Preprocessing check drew a 110-220 px photo at its own size, its boxes tiny."""
    w, h = size
    img = Image.fromarray(np.full((h, w, 3), 128, np.uint8))
    boxes = [DigitBox(1, w * 0.3, h * 0.2, w * 0.15, h * 0.5), DigitBox(2, w * 0.5, h * 0.2, w * 0.15, h * 0.5)]
    steps, rects = view_model.preprocess_steps(img, boxes)
    big = steps["boxes"]
    assert big.width >= 700 or big.height >= 470, big.size   # about 720 across (or 480 high for a tall photo)
    assert abs(big.width / big.height - w / h) < 0.05   # its own aspect ratio
    fx, fy = big.width / w, big.height / h
    left, top, bw, bh = rects["union"]
    x, y = left * fx, (top + bh / 2) * fy   # the union box's left side, scaled
    near = [tuple(v) for v in np.asarray(big)[round(y), max(0, int(x) - 1):int(x) + 3]]
    assert view_model.BOX_COLOURS["union"] in near, near
    assert big.width <= 900 and big.height <= 600
    large = Image.fromarray(np.zeros((600, 1000, 3), np.uint8))   # a large photo is not shrunk
    assert view_model.preprocess_steps(large, boxes)[0]["boxes"].size == (1000, 600)


def test_the_evaluations_table_drops_columns_no_row_fills():
    """Issue 29: the Overview's "cov. 98%" was "–" in every row: the shipped cards' evaluations (whole-photo
    evaluations, ``inference.photo_eval``) record no coverage; ``evaluate --record`` does."""
    photos = {"data": {"name": "real SVHN test photos", "split": "test", "count": 130,
                       "crop": "ground-truth union box expanded 30%"},
              "metrics": {"whole_number_accuracy": 0.877, "correct": 114, "count": 130}}
    card = cards.ModelCard.from_dict({"evaluations": [photos]})
    [row] = view_model.evaluation_table(card)
    assert "coverage at 98%" not in row and "mean IoU" not in row and row["whole-number accuracy"] == "87.7%"
    stored = {"data": {"name": "x", "split": "test", "count": 10, "crop": "ground-truth union box expanded 30%"},
              "metrics": {"whole_number_accuracy": 0.9, "coverage": {"coverage_at_98": 0.5}}}
    rows = view_model.evaluation_table(cards.ModelCard.from_dict({"evaluations": [photos, stored]}))
    assert [r["coverage at 98%"] for r in rows] == ["–", "50.0%"]


def _full_reading(given: bool = False):
    """A full-pipeline Prediction as ``predict`` makes it: the localizer's box (or the given one) first, then a text
    detector's box whose two readings agree, so ``choose`` picks the second."""
    from svhn_api.inference.choose import Candidate, choose
    from svhn_api.inference.predict import Prediction
    from svhn_api.inference.text_read import TextReading

    cands = [Candidate((10, 10, 20, 20), "given" if given else "localizer", "7", 0.61,
                       TextReading("Z1", "1", 0.40, True)),
             Candidate((40, 5, 30, 30), "text-detector", "12", 0.97, TextReading("12", "12", 0.93, False))]
    if given:
        cands = cands[:1]
    choice = choose(cands)
    return Prediction(choice.number, 0.9, np.zeros((6, 11)), box=cands[choice.index].box, pipeline="full",
                      candidates=cands, chosen_by=choice.reason, why=choice.why(cands),
                      runtime={"reader": "onnxruntime", "text-detector": "onnxruntime"})


def test_candidate_rows_list_both_readers_and_mark_the_chosen_one():
    from svhn_api.inference.choose import Candidate
    from svhn_api.inference.predict import Prediction
    from svhn_api.inference.text_read import TextReading

    result = _full_reading()
    assert view_model.chosen_index(result) == 1
    rows = view_model.candidate_rows(result)
    assert [tuple(r) for r in rows] == [view_model.CANDIDATE_COLUMNS] * 2
    assert rows[0] == {"#": 1, "found by": "localizer", "our reader": "7 (61.0%)",
                       "recognizer": "1 (read “Z1”), score 0.40", "letters": "yes", "both agree": "no", "chosen": ""}
    assert rows[1] == {"#": 2, "found by": "text-detector", "our reader": "12 (97.0%)",
                       "recognizer": "12, score 0.93", "letters": "no", "both agree": "yes", "chosen": "✔"}
    sure = Candidate((0, 0, 9, 9), "localizer", "5", 0.99994, TextReading("5", "5", 0.9, False))
    assert view_model.candidate_rows(Prediction("5", 0.9, None, pipeline="full", candidates=[sure]))[0][
        "our reader"] == "5 (99.99%)"   # under 1: never shown as 100.0%
    fast = Prediction("5", 0.99, None, box=(1, 2, 3, 4))
    assert view_model.candidate_rows(fast) == [] and view_model.chosen_index(fast) is None


def test_every_candidate_box_is_drawn_and_the_chosen_one_in_red():
    img = Image.new("RGB", (120, 60), (0, 0, 0))
    a = np.asarray(view_model.photo_with_candidates(img, _full_reading(), width=720))
    red, blue = view_model.BOX_COLOURS["expanded"], view_model.CANDIDATE_COLOUR
    assert (a[90:150, 58:62] == blue).all(axis=2).any()    # the localizer's box: left edge at x = 10 * 6 = 60
    assert not (a[90:150, 58:62] == red).all(axis=2).any()
    assert (a[60:150, 238:246] == red).all(axis=2).any()   # the chosen text-detector box: left edge at 240
    from svhn_api.inference.predict import Prediction

    fast = np.asarray(view_model.photo_with_candidates(img, Prediction("5", 0.9, None, box=(10, 10, 20, 20)), 720))
    assert (fast[90:150, 58:64] == red).all(axis=2).any()   # the fast path: its one box, as before


def test_the_sure_threshold_is_the_one_the_reading_was_compared_with():
    from svhn_api import paths
    from svhn_api.inference import calibration
    from svhn_api.inference.predict import Prediction

    cal = calibration.read()
    if cal is None:
        pytest.skip("no shipped calibration of the full pipeline")
    value, what = view_model.sure_threshold(_full_reading())
    assert value == cal.modes["whole photo"].sure_from and "whole photo" in what
    value, what = view_model.sure_threshold(_full_reading(given=True))
    assert value == cal.modes["given box"].sure_from and "given box" in what
    digits = paths.default_digits()
    fast = Prediction("5", 0.9, None, runtime={"reader": "onnxruntime", "digits": "onnxruntime"})
    if digits is not None:
        assert view_model.sure_threshold(fast) == (cards.read(digits).decode.unsure_below,
                                                   "the digit classifier's calibrated threshold")
    reader = cards.ModelCard(name="r")
    reader.decode.unsure_below = 0.75
    assert view_model.sure_threshold(Prediction("5", 0.9, None), reader)[0] == 0.75


def test_the_pipeline_line_names_the_pipeline_and_its_threshold():
    from dashboard import wording
    from svhn_api.inference.predict import Prediction

    line = wording.pipeline_line(_full_reading(), 0.8472, "the full pipeline's calibrated threshold for a whole photo")
    assert line.startswith("**Full pipeline**:") and "calibrated probability that the reading is right" in line
    assert "sure from 84.7% (the full pipeline's calibrated threshold for a whole photo)" in line
    fast = Prediction("5", 0.9999428, None, unsure=True)
    assert wording.pipeline_line(fast, 0.99999996, "x").startswith("**Fast path**:")
    # one figure beside the other never reads the same: not "100.0% is under 100.0%"
    assert wording.percent_beside(0.9999428, 0.99999996) == "99.99%"
    assert wording.percent_beside(0.99999996, 0.9999428) == "99.999996%"   # never 100% when under 1
    assert wording.percent_beside(0.99999996, 0.9999998) == "99.999996%"
    assert wording.percent_beside(0.5, 0.5) == "50.0%"
    assert wording.percent_beside(1 - 1e-12, 1.0) == "> 99.9999%"   # not 100.000000%
    assert wording.unsure_line(fast, 0.99999996, "the digit classifier's calibrated threshold") == (
        "the digit classifier's calibrated threshold (99.999996%)")


def test_stage_rows_show_what_found_each_number_most_photos_first():
    w = {"pipeline": "full", "by_stage": {"source": {"localizer": {"count": 3, "correct": 2},
                                                     "text-detector": {"count": 5, "correct": 5}},
                                          "reason": {"reader": {"count": 8, "correct": 7}}}}
    assert view_model.stage_rows(w, "source") == [
        {"found by": "text-detector", "photos": 5, "read right": 5, "share right": "100.0%"},
        {"found by": "localizer", "photos": 3, "read right": 2, "share right": "66.7%"}]
    assert view_model.stage_rows(w, "reason") == [
        {"chosen by": "reader", "photos": 8, "read right": 7, "share right": "87.5%"}]
    assert view_model.stage_rows({"pipeline": "fast", "by_stage": None}, "source") == []
