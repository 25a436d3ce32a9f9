"""write_archive: official SVHN tar.gz layout, readable digitStruct.mat, byte-identical, atomic."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from svhn_api.data.archive_writer import write_archive
from svhn_api.data.digitstruct import read_digitstruct
from svhn_api.records import DigitBox, ImageRecord


def _array(seed: int, h: int = 24, w: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _png(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(arr).save(out, format="PNG")
    return out.getvalue()


BOXES = [
    [DigitBox(1, 2.0, 3.0, 10.0, 20.0), DigitBox(10, 12.5, 3.0, 9.0, 20.0)],
    [DigitBox(7, 5.0, 1.0, 11.0, 22.0)],
    [DigitBox(3, 1.0, 0.0, 8.0, 18.0), DigitBox(4, 9.0, 0.0, 8.0, 18.0), DigitBox(5, 17.0, 0.0, 8.0, 18.0)],
]


def items():
    """One image of each accepted kind: PNG bytes, a PIL image, a uint8 array."""
    arrays = [_array(i) for i in range(3)]
    kinds = [_png(arrays[0]), Image.fromarray(arrays[1]), arrays[2]]
    return arrays, [(f"{i + 1}.png", img, BOXES[i]) for i, img in enumerate(kinds)]


def test_members_images_and_digitstruct(tmp_path):
    arrays, its = items()
    out = write_archive(tmp_path / "train.tar.gz", "train", iter(its))  # a generator is fine
    assert out == tmp_path / "train.tar.gz"
    with tarfile.open(out, "r:gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "train",
            "train/1.png",
            "train/2.png",
            "train/3.png",
            "train/digitStruct.mat",
        ]
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
        for i, arr in enumerate(arrays):
            with Image.open(tar.extractfile(f"train/{i + 1}.png")) as im:
                assert im.format == "PNG"
                np.testing.assert_array_equal(np.asarray(im), arr)
        records = read_digitstruct(tar.extractfile("train/digitStruct.mat"))  # straight out of the tar.gz
    assert records == [ImageRecord(f"{i + 1}.png", BOXES[i]) for i in range(3)]


def test_deterministic_bytes(tmp_path):
    a = write_archive(tmp_path / "a.tar.gz", "test", items()[1])
    b = write_archive(tmp_path / "b.tar.gz", "test", items()[1])
    data = a.read_bytes()
    assert data == b.read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"  # gzip header time is 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "b.tar.gz"]  # no temp files left


def test_failure_leaves_previous_archive_and_no_temp(tmp_path):
    target = tmp_path / "extra.tar.gz"
    target.write_bytes(b"previous")
    _, its = items()
    bad = [*its[:2], ("3.png", "not an image", BOXES[2])]
    with pytest.raises(TypeError):
        write_archive(target, "extra", bad)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["extra.tar.gz"]


@pytest.mark.parametrize("name", ["../evil.png", "a/b.png", "digitStruct.mat", ""])
def test_rejects_unsafe_or_clashing_names(tmp_path, name):
    with pytest.raises(ValueError):
        write_archive(tmp_path / "t.tar.gz", "train", [(name, _array(0), BOXES[1])])
    assert not list(Path(tmp_path).iterdir())


def test_rejects_duplicate_names_and_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match="twice"):
        write_archive(tmp_path / "t.tar.gz", "train", [("1.png", _array(0), BOXES[1])] * 2)
    with pytest.raises(ValueError, match="uint8"):
        write_archive(tmp_path / "t.tar.gz", "train", [("1.png", _array(0).astype(np.float32), BOXES[1])])
    assert not list(tmp_path.iterdir())
