"""Real-photo backgrounds for the renderer (``svhn_api.synthetic.backgrounds``): strips cut around the
number, the bank file, and the renderer drawing part of its walls from a bank."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
from PIL import Image

from svhn_api.errors import DataError
from svhn_api.synthetic import render_sample
from svhn_api.synthetic.backgrounds import MARGIN, MIN_SIDE, cut, load_bank, write_bank


def _photo(w: int = 120, h: int = 60) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_strips_lie_outside_the_number_and_its_margin():
    photo = _photo()
    pixels = np.asarray(photo)
    box = (50.0, 20.0, 20.0, 20.0)            # left, top, width, height
    strips = cut(photo, box)
    pad = MARGIN * box[3]
    left, right, top, bottom = strips
    assert left.shape == (60, int(np.floor(50 - pad)), 3) and np.array_equal(left, pixels[:, :47])
    assert right.shape == (60, 120 - int(np.ceil(70 + pad)), 3) and np.array_equal(right, pixels[:, 73:])
    assert np.array_equal(top, pixels[:17]) and np.array_equal(bottom, pixels[43:])


def test_strips_too_small_are_dropped():
    strips = cut(_photo(60, 30), (5.0, 2.0, 50.0, 26.0))   # the number fills the photo
    assert strips == []
    strips = cut(_photo(60, 30), (40.0, 2.0, 18.0, 26.0))  # only the left part is wide enough
    assert len(strips) == 1 and strips[0].shape[1] >= MIN_SIDE


def test_bank_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    strips = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((20, 30), (12, 50), (40, 13))]
    path = write_bank(tmp_path / "bank.h5", strips, [10.0, 20.0, 30.0])
    bank = load_bank(str(path))
    assert len(bank) == 3
    for i, s in enumerate(strips):
        assert np.array_equal(bank.strip(i), s)
    assert bank.heights.tolist() == [10.0, 20.0, 30.0]
    with pytest.raises(ValueError, match="one height per strip"):
        write_bank(tmp_path / "other.h5", strips, [10.0])


def test_a_file_that_is_not_a_bank_is_refused_by_name(tmp_path):
    path = tmp_path / "store.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 4), np.uint8))
    with pytest.raises(DataError, match="store.h5: not a backgrounds bank"):
        load_bank(str(path))
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="broken.h5: cannot read the backgrounds bank"):
        load_bank(str(broken))


def _red_bank(tmp_path) -> str:
    strip = np.zeros((80, 120, 3), np.uint8)
    strip[..., 0] = 230
    return str(write_bank(tmp_path / "red.h5", [strip], [20.0]))


def _red_share(img: Image.Image) -> float:
    a = np.asarray(img, dtype=np.float32)
    return float(np.mean((a[..., 0] > a[..., 1] + 60) & (a[..., 0] > a[..., 2] + 60)))


def test_the_renderer_draws_part_of_its_walls_from_a_bank(tmp_path):
    bank = load_bank(_red_bank(tmp_path))
    with_bank = [render_sample(np.random.default_rng([3, i]), bank=bank)[0] for i in range(40)]
    without = [render_sample(np.random.default_rng([3, i]))[0] for i in range(40)]
    red_with = sum(_red_share(img) > 0.3 for img in with_bank)
    red_without = sum(_red_share(img) > 0.3 for img in without)
    assert red_without <= 3                 # red walls are rare in the procedural palette
    assert 8 <= red_with <= 32              # about half the walls come from the (all red) bank
    again = render_sample(np.random.default_rng([3, 5]), bank=bank)[0]
    assert again.tobytes() == with_bank[5].tobytes()


def test_synth_with_a_bank_is_deterministic_and_refuses_a_missing_one(tmp_path):
    from svhn_api.data.archives import iter_images
    from svhn_api.synthetic import synth

    bank = _red_bank(tmp_path)
    a = synth(tmp_path / "a", train=12, extra=0, test=0, seed=4, jobs=1, progress=False, backgrounds=bank)
    b = synth(tmp_path / "b", train=12, extra=0, test=0, seed=4, jobs=2, progress=False, backgrounds=bank)
    plain = synth(tmp_path / "c", train=12, extra=0, test=0, seed=4, jobs=1, progress=False)
    images = list(iter_images(a["train"]))
    assert images == list(iter_images(b["train"]))
    assert images != list(iter_images(plain["train"]))
    assert any(_red_share(Image.open(io.BytesIO(data))) > 0.3 for _, data in images)
    with pytest.raises(DataError, match="nowhere.h5"):
        synth(tmp_path / "d", train=2, extra=0, test=0, progress=False, backgrounds=tmp_path / "nowhere.h5")
    assert not (tmp_path / "d" / "train.tar.gz").exists()
