"""prepare() end to end on small archives in the official layout, written by our archive writer."""

import importlib
import io
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from svhn_api.data.archive_writer import write_archive
from svhn_api.data.download import write_manifest
from svhn_api.data.prepare import prepare
from svhn_api.data.store import SPLITS, inspect, read
from svhn_api.labels import boxes_to_row
from svhn_api.records import DigitBox
from tests.conftest import draw_number, random_numbers

prepare_mod = importlib.import_module("svhn_api.data.prepare")
COUNTS = {"train": 60, "extra": 30, "test": 20}


def build_archives(folder, counts=COUNTS, seed=0, bad=False):
    """Archives of drawn numbers; returns {archive: {filename: boxes}} of what went in."""
    rng = np.random.default_rng(seed)
    truth = {}
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in counts.items():
        items, truth[name] = [], {}
        for i, number in enumerate(random_numbers(n, rng)):
            img, boxes = draw_number(number, rng)
            buf = io.BytesIO()
            img.save(buf, "PNG")
            items.append((f"{i + 1}.png", buf.getvalue(), boxes))
            truth[name][f"{i + 1}.png"] = boxes
        if bad and name == "train":
            items.append(("901.png", b"\x89PNG\r\n\x1a\n garbage", [DigitBox(1, 0, 0, 5, 5)]))
            items.append(("902.png", items[0][1], [DigitBox(1, 1, 1, 3, 3)] * 6))
            items.append(("903.png", items[0][1], [DigitBox(1, 1, 1, 0, 3)]))
        write_archive(folder / f"{name}.tar.gz", name, items)
    write_manifest(folder, [f"{n}.tar.gz" for n in counts])
    return truth


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archives")
    return folder, build_archives(folder, bad=True)


def test_store_holds_what_went_in(archives, tmp_path):
    folder, truth = archives
    s = prepare(folder, out=tmp_path / "s.h5", jobs=1, validation_size=10, progress=False, download=False)
    assert s.counts == {"train": 90 - 9, "validation": 9, "test": 20}  # validation capped at a tenth
    info = inspect(s.path)
    assert info.crop == "union" and info.image_shape == (64, 64, 3)
    assert set(info.attrs["archives"]) == {"train", "extra", "test"}
    assert info.attrs["source"] == "synthetic"  # from the archives' manifest.json
    for split in SPLITS:
        rows = read(s.path, split, fields=("labels", "boxes", "filenames", "sources", "sizes"))
        for lab, bx, fn, src in zip(rows["labels"], rows["boxes"], rows["filenames"], rows["sources"], strict=True):
            boxes = truth[src][fn]
            assert (split == "test") == (src == "test")
            np.testing.assert_array_equal(lab, boxes_to_row(boxes))
            np.testing.assert_allclose(bx[:len(boxes)], [(b.left, b.top, b.width, b.height) for b in boxes])
            assert np.isnan(bx[len(boxes):]).all()


def test_left_out_images_are_reported_by_name_and_reason(archives, tmp_path):
    folder, _ = archives
    s = prepare(folder, out=tmp_path / "s.h5", jobs=1, progress=False, download=False)
    reasons = {x["filename"]: x["reason"] for x in s.left_out}
    assert set(reasons) == {"901.png", "902.png", "903.png"}
    assert "corrupt or truncated" in reasons["901.png"]
    assert "6 digits" in reasons["902.png"]
    assert "zero-area" in reasons["903.png"]


@pytest.mark.slow
def test_parallel_equals_serial_byte_for_byte(archives, tmp_path):
    folder, _ = archives
    a = prepare(folder, out=tmp_path / "serial.h5", jobs=1, progress=False, download=False)
    b = prepare(folder, out=tmp_path / "parallel.h5", jobs=2, progress=False, download=False)
    with h5py.File(a.path) as fa, h5py.File(b.path) as fb:
        for name in fa:
            x, y = fa[name][()], fb[name][()]
            if x.dtype == object:
                assert x.tolist() == y.tolist(), name
            else:
                assert x.tobytes() == y.tobytes(), name
    assert a.left_out == b.left_out


def test_validation_sample_is_fixed_by_seed(archives, tmp_path):
    folder, _ = archives
    runs = [prepare(folder, out=tmp_path / f"{k}.h5", jobs=1, seed=s, progress=False, download=False,
                    splits=("train", "extra"))
            for k, s in (("a", 1), ("b", 1), ("c", 2))]
    names = [list(read(r.path, "validation", fields=("filenames", "sources"))["filenames"]) for r in runs]
    assert names[0] == names[1] != names[2]
    assert runs[0].counts["test"] == 0


def test_interrupted_prepare_resumes_from_finished_archives(archives, tmp_path, monkeypatch):
    folder, _ = archives
    out = tmp_path / "s.h5"
    real = prepare_mod.process_archive
    calls = []

    def failing(archive, name, part, **kw):
        calls.append(name)
        if name == "test":
            raise KeyboardInterrupt
        return real(archive, name, part, **kw)

    monkeypatch.setattr(prepare_mod, "process_archive", failing)
    with pytest.raises(KeyboardInterrupt):
        prepare(folder, out=out, jobs=1, progress=False, download=False)
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
    parts = sorted(p.name for p in (tmp_path / "s.h5.parts").iterdir())
    assert parts == ["extra.h5", "train.h5"]

    monkeypatch.setattr(prepare_mod, "process_archive", real)
    import svhn_api.data.archives

    opened = []
    unpacked = svhn_api.data.archives.unpacked
    monkeypatch.setattr(svhn_api.data.archives, "unpacked", lambda a, *k, **kw: opened.append(a.name) or
                        unpacked(a, *k, **kw))
    s = prepare(folder, out=out, jobs=1, progress=False, download=False)
    assert out.is_file() and s.counts == {"train": 81, "validation": 9, "test": 20}
    assert opened == ["test.tar.gz"]  # train and extra came from their finished parts
    assert not (tmp_path / "s.h5.parts").exists()


def test_capstone_crop_mode(archives, tmp_path):
    folder, _ = archives
    s = prepare(folder, out=tmp_path / "capstone.h5", crop="capstone", jobs=1, progress=False, download=False,
                splits=("test",))
    info = inspect(s.path)
    assert s.crop == info.crop == info.attrs["crop"] == "capstone" and info.image_shape == (32, 32, 1)
    assert s.counts == {"train": 0, "validation": 0, "test": 20}
    with h5py.File(s.path, "r") as f:
        assert f.attrs["crop"] == "capstone"


@pytest.mark.parametrize("crop", ["strip", "seed"])   # "seed": the capstone strip's name before 0.2
def test_unknown_crop_mode_names_the_choices(archives, tmp_path, crop):
    with pytest.raises(ValueError, match=f"crop mode '{crop}': choose one of union, capstone, photo, scene"):
        prepare(archives[0], out=tmp_path / "x.h5", crop=crop, progress=False, download=False)


def test_cli_prints_json_summary_last(archives, tmp_path):
    folder, _ = archives
    out = tmp_path / "cli.h5"
    r = subprocess.run([sys.executable, "-m", "svhn_api", "prepare", "--archives", str(folder), "--out", str(out),
                        "--splits", "test", "--jobs", "1", "--no-download", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["counts"]["test"] == 20 and summary["path"] == str(out)


def test_missing_archives_without_download_say_where_to_put_them(tmp_path):
    r = subprocess.run([sys.executable, "-m", "svhn_api", "prepare", "--archives", str(tmp_path / "none"),
                        "--no-download"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert str(tmp_path / "none") in r.stderr


def test_progress_callback_reaches_every_archive_total(archives, tmp_path):
    folder, truth = archives
    seen = {}
    prepare(folder, out=tmp_path / "p.h5", jobs=1, progress=False, download=False,
            on_progress=lambda stage, done, total: seen.__setitem__(stage, (done, total)))
    assert seen == {f"prepare {k}": (len(v) + (3 if k == "train" else 0),) * 2 for k, v in truth.items()}


@pytest.mark.slow
def test_same_archives_give_a_store_with_the_same_bytes(archives, tmp_path):
    """Training runs are keyed on the store's sha256: preparing unchanged archives again must not change it
    (no creation time in the attributes, no HDF5 object timestamps)."""
    import hashlib
    import time

    folder, _ = archives
    out = tmp_path / "s.h5"
    digests = []
    for _ in range(2):
        prepare(folder, out=out, jobs=1, validation_size=10, progress=False, download=False)
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
        time.sleep(1.1)  # HDF5 timestamps have a resolution of one second
    assert digests[0] == digests[1]
