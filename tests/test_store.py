import numpy as np
import pytest

from svhn_api.data import store
from svhn_api.data.preprocess import decode_labels
from svhn_api.errors import DataError


def test_describe_counts_and_shape(tiny_store):
    info = store.describe(tiny_store)
    assert info.counts == {"train": 256, "validation": 64, "test": 64}
    assert info.image_shape == (64, 64, 3)
    assert info.crop == "union"


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
        assert len(decode_labels(lab)) == n
        assert all(d == 10 for d in lab[1 + n:])


def test_missing_and_corrupt_store_errors(tmp_path):
    with pytest.raises(DataError, match="run `python -m svhn_api prepare`"):
        store.describe(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="bad.h5"):
        store.describe(bad)
