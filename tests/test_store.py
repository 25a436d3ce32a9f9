import dataclasses
import json

import h5py
import numpy as np
import pytest

from svhn_api import labels
from svhn_api.data import store
from svhn_api.data.preprocess import CROP_SHAPES
from svhn_api.errors import DataError
from tests.conftest import make_store


def test_inspect_counts_and_shape(tiny_store):
    info = store.inspect(tiny_store)
    assert info.counts == {"train": 256, "validation": 64, "test": 64}
    assert info.image_shape == (64, 64, 3)
    assert info.crop == "union"


def test_the_schema_takes_its_shapes_from_the_label_format_and_the_crop_modes(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        store.create_datasets(f, CROP_SHAPES["capstone"])
        assert f["labels"].shape[1:] == (labels.LABEL_WIDTH,) == (labels.N_HEADS,)
        assert f["labels"].dtype == labels.LABEL_DTYPE and f["lengths"].dtype == labels.LABEL_DTYPE
        assert f["boxes"].shape[1:] == (labels.MAX_DIGITS, 4)
        assert f["images"].shape[1:] == CROP_SHAPES["capstone"]
        assert set(f) == set(store.ROW_FIELDS)


def test_attributes_round_trip_through_the_schema(tmp_path):
    attrs = store.StoreAttrs(crop="capstone", split_ranges=store.split_ranges({"train": 3, "test": 2}),
                             version="9.9", created="2024-01-01T00:00:00Z", archives={"test": "abc"},
                             left_out=[{"archive": "test", "filename": "7.png", "reason": "6 digits"}],
                             validation_seed=4, source="synthetic")
    assert attrs.split_ranges == {"train": [0, 3], "validation": [3, 3], "test": [3, 5]}
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        store.create_datasets(f, CROP_SHAPES["capstone"], n=5)
        store.write_attrs(f, attrs)
        assert f.attrs["crop"] == "capstone"
        assert json.loads(f.attrs["archives"]) == {"test": "abc"}
    info = store.inspect(path)
    assert info.crop == "capstone" and info.counts == {"train": 3, "validation": 0, "test": 2}
    assert {k: info.attrs[k] for k in ("archives", "left_out", "split_ranges", "validation_seed", "source")} == \
        {"archives": attrs.archives, "left_out": attrs.left_out, "split_ranges": attrs.split_ranges,
         "validation_seed": 4, "source": "synthetic"}
    assert info.attrs["splits"] == list(store.SPLITS)


def test_the_test_fixture_writes_every_schema_attribute(tmp_path):
    info = store.inspect(make_store(tmp_path / "s.h5", {"train": 2, "test": 1}, mode="capstone"))
    # source and verified: None in the fixture (no archives), so not written
    names = {f.name for f in dataclasses.fields(store.StoreAttrs)} - {"source", "verified"}
    assert names <= set(info.attrs) and info.crop == "capstone" and info.image_shape == CROP_SHAPES["capstone"]


def test_a_store_written_under_the_old_crop_name_asks_to_be_prepared_again(tmp_path):
    path = make_store(tmp_path / "old.h5", {"test": 1}, mode="capstone")
    with h5py.File(path, "a") as f:
        f.attrs["crop"] = "seed"  # as stores prepared before 0.2 say
    with pytest.raises(DataError, match=r"old\.h5: prepared before 0\.2.*prepare it again"):
        store.inspect(path)


def test_read_split_and_indices(tiny_store):
    full = store.read(tiny_store, "test", fields=("images", "labels", "filenames", "split"))
    assert full["images"].shape == (64, 64, 64, 3)
    assert set(full["split"]) == {2}
    some = store.read(tiny_store, "test", fields=("labels", "filenames"), indices=[5, 1, 5, 63])
    np.testing.assert_array_equal(some["labels"], full["labels"][[5, 1, 5, 63]])
    assert list(some["filenames"]) == [full["filenames"][i] for i in (5, 1, 5, 63)]
    with pytest.raises(IndexError):
        store.read(tiny_store, "test", indices=[64])


def test_iter_batches_covers_split_once(tiny_store):
    labels = store.read(tiny_store, "train", fields=("labels",))["labels"]
    for shuffle in (False, True):
        got = list(store.iter_batches(tiny_store, "train", 50, shuffle=shuffle, seed=3, fields=("labels",),
                                      block_rows=64, buffer_blocks=2))
        assert [len(b["labels"]) for b in got] == [50] * 5 + [6]
        seen = np.concatenate([b["labels"] for b in got])
        key = lambda a: sorted(map(tuple, a.tolist()))  # noqa: E731
        assert key(seen) == key(labels)
        if not shuffle:
            np.testing.assert_array_equal(seen, labels)
        else:
            assert not np.array_equal(seen, labels)


def test_labels_spell_numbers(tiny_store):
    rows = store.read(tiny_store, "validation", fields=("labels", "lengths"))
    for lab, n in zip(rows["labels"], rows["lengths"], strict=True):
        assert len(labels.row_to_number(lab)) == n
        assert all(d == 10 for d in lab[1 + n:])


def test_missing_and_corrupt_store_errors(tmp_path):
    with pytest.raises(DataError, match="run `python -m svhn_api prepare`"):
        store.inspect(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="bad.h5"):
        store.inspect(bad)


def test_chunk_aligned_writes_whole_chunks_then_the_rest_on_flush(tmp_path):
    from svhn_api.data.store import CHUNK_ROWS, ChunkAligned, create_datasets

    rng = np.random.default_rng(0)
    sizes = [100, 128, 300, 7, 500]
    batches = [{"images": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
                "lengths": rng.integers(0, 6, n).astype(np.int8)} for n in sizes]
    with h5py.File(tmp_path / "s.h5", "w") as f:
        create_datasets(f, (8, 8, 3), compress_images=False)
        rows = ChunkAligned(f, rows_per_write=2 * CHUNK_ROWS)
        written = []
        for b in batches:
            rows.add(b)
            written.append(f["images"].shape[0])
        assert all(n % CHUNK_ROWS == 0 for n in written) and written[-1] > 0
        rows.flush()
        assert f["images"].compression is None
        np.testing.assert_array_equal(f["images"][:], np.concatenate([b["images"] for b in batches]))
        np.testing.assert_array_equal(f["lengths"][:], np.concatenate([b["lengths"] for b in batches]))


def test_take_reads_dense_and_sparse_rows_alike(tmp_path):
    from svhn_api.data.prepare import _take

    data = np.arange(5000 * 3).reshape(5000, 3)
    with h5py.File(tmp_path / "t.h5", "w") as f:
        ds = f.create_dataset("x", data=data, chunks=(256, 3))
        dense = np.setdiff1d(np.arange(100, 2100), [150, 151, 999])
        sparse = np.array([3, 1700, 4999])
        np.testing.assert_array_equal(_take(ds, dense), data[dense])
        np.testing.assert_array_equal(_take(ds, sparse), data[sparse])
