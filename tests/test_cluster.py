"""Preprocessing on a Dask cluster: ``prepare(scheduler=...)`` / ``prepare --scheduler`` on a LocalCluster of
2 worker processes started here, on 127.0.0.1 only. The store must be the same bytes as a local run's."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from svhn_api.data.archive_writer import write_archive
from svhn_api.data.download import write_manifest
from svhn_api.data.prepare import prepare
from svhn_api.errors import DataError
from tests.conftest import draw_number, random_numbers

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed", reason="the 'cluster' extra (dask, distributed) is not installed")


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archives")
    rng = np.random.default_rng(11)
    for name, n in {"train": 120, "test": 40}.items():
        items = []
        for i, number in enumerate(random_numbers(n, rng)):
            img, boxes = draw_number(number, rng)
            items.append((f"{i + 1}.png", img, boxes))
        write_archive(folder / f"{name}.tar.gz", name, items)
    write_manifest(folder, ["train.tar.gz", "test.tar.gz"])
    return folder


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_prepare_on_a_local_dask_cluster_gives_the_same_store(archives, tmp_path):
    from distributed import Client, LocalCluster, get_task_stream

    local = prepare(archives, splits=("train", "test"), out=tmp_path / "local.h5", jobs=2, validation_size=10,
                    download=False, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as cluster, Client(cluster) as client, get_task_stream(client) as tasks:
        on_cluster = prepare(archives, splits=("train", "test"), out=tmp_path / "cluster.h5", validation_size=10,
                             download=False, progress=False, scheduler=cluster.scheduler_address)
    # the chunks ran as tasks on the cluster's workers (on 127.0.0.1)
    assert len(tasks.data) >= 2 and all(t["worker"].startswith("tcp://127.0.0.1:") for t in tasks.data)
    assert on_cluster.counts == local.counts
    assert _sha(tmp_path / "cluster.h5") == _sha(tmp_path / "local.h5")


def test_an_unreachable_scheduler_is_a_clear_error(archives, tmp_path):
    from dashboard.screenshots import free_port

    with pytest.raises(DataError, match="no Dask scheduler answers there"):
        prepare(archives, splits=("test",), out=tmp_path / "x.h5", download=False, progress=False,
                scheduler=f"tcp://127.0.0.1:{free_port()}")


def test_read_on_a_local_dask_cluster_writes_the_same_rows(tmp_path):
    from distributed import LocalCluster

    from svhn_api.data.archive_writer import write_archive as write
    from svhn_api.inference.bulk import read_photos
    from svhn_api.models import architectures
    from svhn_api.models import io as model_io

    reader, finder = tmp_path / "reader", tmp_path / "localizer"
    model_io.save(architectures.build("compact"), reader)
    model_io.save(architectures.build("localizer"), finder)
    rng = np.random.default_rng(5)
    photos = tmp_path / "photos"
    photos.mkdir()
    items = []
    for i, number in enumerate(random_numbers(9, rng)):
        img, boxes = draw_number(number, rng)
        img.save(photos / f"{i}.png")
        items.append((f"{i}.png", img, boxes))
    write(tmp_path / "more.tar.gz", "test", items[:4])
    (photos / "broken.png").write_bytes(b"not a png")
    inputs = [photos, tmp_path / "more.tar.gz"]
    read_photos(inputs, tmp_path / "local.csv", model=reader, localizer=finder, batch_size=4, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as cluster:
        summary = read_photos(inputs, tmp_path / "cluster.csv", model=reader, localizer=finder, batch_size=4,
                              progress=False, scheduler=cluster.scheduler_address)
    assert summary.read == 14 and summary.failed == 1
    assert (tmp_path / "cluster.csv").read_text() == (tmp_path / "local.csv").read_text()
