"""The box contract: (left, top, width, height) boxes, corner arrays, unions, IoU, fractions and clipping."""

from __future__ import annotations

import numpy as np
import pytest

from svhn_api import boxes
from svhn_api.records import DigitBox


def test_union_of_digit_boxes_and_of_rows_with_absent_digits():
    digits = [DigitBox(2, 10, 5, 8, 20), DigitBox(1, 19, 8, 10, 20)]
    assert boxes.union(digits) == (10, 5, 19, 23)
    rows = np.full((2, 5, 4), np.nan)
    rows[0, :2] = [[10, 5, 8, 20], [19, 8, 10, 20]]
    rows[1, 0] = [0, 0, 4, 2]
    assert boxes.union_corners(rows).tolist() == [[10, 5, 29, 28], [0, 0, 4, 2]]
    fractions = boxes.union_fractions(rows, np.array([[20, 40], [8, 4]]))
    np.testing.assert_allclose(fractions, [[0.5, 0.125, 1.0, 0.7], [0.0, 0.0, 0.5, 0.5]], rtol=1e-6)   # 29/20 -> 1


def test_iou_pairs_rows_or_every_pair():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], dtype=float)
    assert boxes.iou(a, b).tolist() == pytest.approx([50 / 150, 0.0])
    assert boxes.iou(a[:, None], b[None, :]).shape == (2, 2)
    assert boxes.box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    assert boxes.box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0


def test_fractions_round_trip_through_a_window():
    box = (30.0, 10.0, 20.0, 5.0)
    frac = boxes.fractions(box, (100, 50))
    assert frac.tolist() == pytest.approx([0.3, 0.2, 0.5, 0.3])
    assert boxes.from_fractions(frac, (0.0, 0.0, 100.0, 50.0)) == pytest.approx(box)
    assert boxes.from_fractions(np.array([0.5, 0.5, 1.0, 1.0]), (10.0, 20.0, 30.0, 40.0)) == (20, 30, 10, 10)
    assert boxes.from_fractions(np.array([0.5, 0.5, 0.5, 0.5]), (0.0, 0.0, 10.0, 10.0))[2:] == (1.0, 1.0)


def test_clip_keeps_the_part_inside_the_photo():
    assert boxes.clip((5, 5, 10, 10), (100, 50)) == (5, 5, 10, 10)
    assert boxes.clip((-5, 40, 20, 20), (100, 50)) == (0, 40, 15, 10)
    assert boxes.clip((100, 0, 10, 10), (100, 50)) is None
    assert boxes.corners((1, 2, 3, 4)) == (1, 2, 4, 6)


def test_checked_is_the_one_box_check():
    from svhn_api.boxes import NotABox, checked

    assert checked(["1", "2", "3", "4"]) == (1.0, 2.0, 3.0, 4.0)
    for values, problem, numbers in (("a", "is not 4 numbers", None), ((1, 2, 3), "has 3 numbers", (1.0, 2.0, 3.0)),
                                     ((1,), "has 1 number", (1.0,)),
                                     ((0, float("nan"), 1, 1), "not a finite number", None),
                                     ((0, 0, 0, 1), "width and height greater than 0", (0.0, 0.0, 0.0, 1.0))):
        with pytest.raises(NotABox, match=problem) as caught:
            checked(values)
        if numbers is not None:
            assert caught.value.numbers == numbers
