import numpy as np
import pytest
from PIL import Image

from svhn_api.boxes import union
from svhn_api.data.preprocess import (
    CROP_MEANINGS,
    CROP_MODES,
    CROP_SHAPES,
    SkipImage,
    check_boxes,
    crop,
    crop_capstone,
    crop_meaning,
    crop_mode,
    crop_union,
    expanded_crop,
)
from svhn_api.labels import boxes_to_row, row_to_number
from svhn_api.records import DigitBox


def boxes_210():
    return [DigitBox(2, 99, 5, 14, 23), DigitBox(1, 114, 8, 8, 23), DigitBox(10, 121, 6, 12, 23)]


def test_labels_follow_the_capstone_encoding():
    lab = boxes_to_row(boxes_210())
    assert lab.tolist() == [3, 2, 1, 0, 10, 10]
    assert row_to_number(lab) == "210"


def test_union_box_and_30_percent_expansion():
    assert union(boxes_210()) == (99, 5, 34, 26)
    # 15% of 34 = 5.1 and 15% of 26 = 3.9 each side, rounded outwards
    assert expanded_crop((99, 5, 34, 26), (182, 48)) == (93, 1, 139, 35)


def test_expansion_is_clipped_to_the_image():
    assert expanded_crop((0, 0, 20, 40), (30, 40)) == (0, 0, 23, 40)
    with pytest.raises(SkipImage, match="outside"):
        expanded_crop((100, 100, 5, 5), (50, 50))


def test_union_crop_takes_exactly_the_expanded_region():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (48, 182, 3), dtype=np.uint8)
    img = Image.fromarray(a)
    got = crop(img, boxes_210(), "union")
    want = np.asarray(Image.fromarray(a[1:35, 93:139]).resize((64, 64), Image.BILINEAR))
    assert got.shape == (64, 64, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)
    assert crop_union(img).shape == (64, 64, 3)


def test_capstone_crop_is_a_32x32_gray_strip_of_the_digits():
    img = Image.new("RGB", (182, 48), (255, 255, 255))
    img.paste((0, 0, 0), (99, 5, 113, 28))  # the first digit's box is black
    got = crop_capstone(img, boxes_210())
    assert got.shape == (32, 32, 1)
    assert got[:, :8].mean() < 30 and got[:, 14:].mean() > 200  # left third dark, the rest white


def test_boxes_running_past_the_image_are_clipped():
    img = Image.new("RGB", (40, 30))
    boxes = [DigitBox(3, 30, -4, 15, 40)]
    assert crop(img, boxes, "union").shape == (64, 64, 3)
    assert crop(img, boxes, "capstone").shape == (32, 32, 1)


@pytest.mark.parametrize("boxes, reason", [
    ([], "no digit boxes"),
    ([DigitBox(1, 0, 0, 5, 5)] * 6, "6 digits"),
    ([DigitBox(1, 0, 0, 0, 5)], "zero-area"),
    ([DigitBox(11, 0, 0, 5, 5)], "label 11"),
])
def test_unusable_annotations_are_reported(boxes, reason):
    with pytest.raises(SkipImage, match=reason):
        check_boxes(boxes)


def test_unknown_crop_mode():
    with pytest.raises(ValueError, match="union, capstone"):
        crop(Image.new("RGB", (10, 10)), [DigitBox(1, 0, 0, 5, 5)], "bogus")


def test_crop_modes_are_taken_by_their_names_only():
    assert [crop_mode(m) for m in ("union", "capstone", "photo", "scene")] == ["union", "capstone", "photo", "scene"]
    with pytest.raises(ValueError, match="crop mode 'seed': choose one of union, capstone"):
        crop_mode("seed")   # the capstone strip's name before 0.2
    assert crop_meaning("capstone").startswith("ground-truth digit boxes")


def test_every_crop_mode_has_a_shape_and_a_meaning():
    assert set(CROP_MODES) == set(CROP_SHAPES) == set(CROP_MEANINGS)
    assert "union box expanded 30%" in crop_meaning("union") and "capstone" in crop_meaning("capstone")
    with pytest.raises(ValueError, match="crop mode 'tiles': choose one of union, capstone"):
        crop_meaning("tiles")  # a mode nobody described is an error, never "the capstone strip"
