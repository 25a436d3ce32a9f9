"""The first run's data (``dashboard.first_run``): the bundled sample copied, the quick sample rendered for
real, and the background job's progress, log and cancellation."""

from __future__ import annotations

import threading
import time

import pytest

from dashboard import first_run
from svhn_api.data.store import inspect
from tests.conftest import make_store


def test_the_bundled_sample_is_copied_when_there_is_one(tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    (bundled / "synthetic" / "archives").mkdir(parents=True)
    (bundled / "synthetic" / "archives" / "test.tar.gz").write_bytes(b"archive bytes")
    make_store(bundled / first_run.FULL_STORE, {"train": 4, "test": 2})
    monkeypatch.delenv(first_run.BUNDLED_ENV, raising=False)
    assert first_run.copy_bundled(tmp_path / "data") is None
    monkeypatch.setenv(first_run.BUNDLED_ENV, str(bundled))
    path = first_run.copy_bundled(tmp_path / "data")
    assert path == tmp_path / "data" / first_run.FULL_STORE and inspect(path).counts["test"] == 2
    assert (tmp_path / "data" / "synthetic" / "archives" / "test.tar.gz").read_bytes() == b"archive bytes"


def test_a_bundled_sample_of_archives_only_gets_its_store_prepared(tmp_path, monkeypatch):
    """The Docker image bundles the sample's archives without their store: the copy prepares it from them."""
    from svhn_api.data.synthetic_archives import synth

    bundled = tmp_path / "bundled"
    synth(bundled / "synthetic" / "archives", train=6, extra=2, test=4, seed=2, progress=False)
    monkeypatch.setenv(first_run.BUNDLED_ENV, str(bundled))
    seen = []
    path = first_run.copy_bundled(tmp_path / "data", on_progress=lambda stage, done, total: seen.append(stage))
    assert path == tmp_path / "data" / first_run.FULL_STORE and inspect(path).counts["test"] == 4
    assert any(stage.startswith("prepare") for stage in seen)
    assert not (bundled / first_run.FULL_STORE).exists()   # the bundle itself is left as it was
    (bundled / "synthetic" / "archives" / "extra.tar.gz").unlink()
    assert first_run.bundled_sample() is None and first_run.copy_bundled(tmp_path / "other") is None


def test_the_quick_sample_is_rendered_and_prepared_with_progress(tmp_path, monkeypatch):
    monkeypatch.setattr(first_run, "QUICK_SAMPLE", {"train": 12, "test": 6})
    seen = []
    path = first_run.prepare_quick(tmp_path, on_progress=lambda stage, done, total: seen.append((stage, total)))
    counts = inspect(path).counts
    assert sum(counts.values()) == 18 and counts["test"] == 6 and first_run.is_quick(path)
    assert ("render train", 12) in seen and ("render test", 6) in seen
    assert any(stage.startswith("prepare") for stage, _ in seen)


def test_the_background_job_reports_progress_and_finishes(tmp_path, monkeypatch):
    def fake_full(data_dir, jobs, on_progress):
        for done in range(0, 101, 20):
            on_progress("render train", done, 100)
        return make_store(first_run.full_store(data_dir), {"train": 4, "test": 2})

    (tmp_path / "synthetic").mkdir()
    monkeypatch.setattr(first_run, "prepare_full", fake_full)
    lines = []
    job = first_run.SampleJob(tmp_path, log=lines.append).start(1)
    job._thread.join(30)
    assert not job.running and job.error is None and job.path == first_run.full_store(tmp_path)
    assert (job.stage, job.done, job.total) == ("render train", 100, 100)
    assert any("render train: 100 of 100 photos" in line for line in lines)
    assert "ready" in lines[-1] and job.describe().startswith("render train: 100 of 100")


def test_the_background_job_can_be_cancelled_and_reports_errors(tmp_path, monkeypatch):
    started = threading.Event()

    def endless(data_dir, jobs, on_progress):
        done = 0
        while True:
            on_progress("render train", done, 10_000)
            started.set()
            done += 1
            time.sleep(0.01)

    monkeypatch.setattr(first_run, "prepare_full", endless)
    job = first_run.SampleJob(tmp_path, log=lambda line: None).start(1)
    assert started.wait(10)
    job.cancel()
    assert not job.running and job.error == "cancelled"

    def broken(data_dir, jobs, on_progress):
        raise OSError("disk full")

    monkeypatch.setattr(first_run, "prepare_full", broken)
    lines = []
    job = first_run.SampleJob(tmp_path, log=lines.append).start(1)
    job._thread.join(30)
    assert job.error == "OSError: disk full" and "disk full" in lines[-1]


@pytest.mark.parametrize("done,total,left", [(0, 100, None), (50, 100, 10.0)])
def test_time_left_comes_from_the_pace_so_far(done, total, left):
    job = first_run.SampleJob(first_run.Path("."), stage="render train", done=done, total=total,
                              stage_started=time.monotonic() - 10)
    assert job.seconds_left() == (pytest.approx(left, rel=0.05) if left else None)


def test_the_quick_sample_shows_its_original_photos(tmp_path, monkeypatch):
    """The Preprocessing check on the quick sample (what a newcomer sees first) finds each row's original photo
    in the quick sample's own archives, also once the full sample's archives (other photos) are beside it."""
    import numpy as np

    from dashboard import view_model
    from svhn_api.data import photos
    from svhn_api.data.synthetic_archives import synth

    monkeypatch.setattr(first_run, "QUICK_SAMPLE", {"train": 6, "test": 4})
    path = first_run.prepare_quick(tmp_path)
    view = view_model.row_view(path, "test", 1)
    assert view.original is not None, view.missing
    assert "capstone" in view.steps and np.array_equal(np.asarray(view.steps["union"]), view.stored)
    synth(tmp_path / "synthetic" / "archives", train=2, extra=0, test=2, seed=1, progress=False)  # the full one's
    assert photos.find_archive(path, "test") == tmp_path / first_run.QUICK_ARCHIVES / "test.tar.gz"
    view = view_model.row_view(path, "test", 1)
    assert view.original is not None and np.array_equal(np.asarray(view.steps["union"]), view.stored)
