"""Whole-photo reading: the photo crop, the localizer's targets and training, locate() and predict() without
a box, and composed training stores."""

import json

import numpy as np
import pytest
from PIL import Image

from svhn_api.boxes import iou, union_fractions
from svhn_api.data import store
from svhn_api.training.tasks import reframe
from tests.conftest import make_store


def test_union_fractions_are_the_union_of_the_digit_boxes_over_the_photo_size():
    boxes = np.full((2, 5, 4), np.nan, np.float32)
    boxes[0, :2] = [(10, 5, 10, 20), (22, 6, 10, 20)]          # union 10..32 x 5..26 of a 40x40 photo
    boxes[1, :1] = [(-5, 0, 20, 50)]                           # runs past the edge: clipped
    out = union_fractions(boxes, np.array([[40, 40], [30, 40]]))
    np.testing.assert_allclose(out[0], [10 / 40, 5 / 40, 32 / 40, 26 / 40])
    np.testing.assert_allclose(out[1], [0, 0, 15 / 30, 1])
    assert iou(out, out).tolist() == [1.0, 1.0]


def test_reframing_moves_the_box_with_the_picture():
    """A bright rectangle drawn at the box must stay where the reframed box says it is."""
    rng = np.random.default_rng(0)
    images = np.zeros((20, 64, 64, 3), np.uint8)
    boxes = np.zeros((20, 4), np.float32)
    for i in range(20):
        x0, y0 = rng.integers(0, 40, 2)
        w, h = rng.integers(8, 24, 2)
        images[i, y0:y0 + h, x0:x0 + w] = 255
        boxes[i] = [x0 / 64, y0 / 64, (x0 + w) / 64, (y0 + h) / 64]
    x, b = reframe(images, boxes, np.random.default_rng(1), keep=0.0)
    assert not np.array_equal(x, images)
    for img, box in zip(x, b, strict=True):
        ys, xs = np.nonzero(img[..., 0] > 127)
        seen = np.array([xs.min() / 64, ys.min() / 64, (xs.max() + 1) / 64, (ys.max() + 1) / 64])
        assert iou(seen[None], box[None])[0] > 0.8, (seen, box)


def test_compose_oversamples_and_names_its_parts(tmp_path):
    a = make_store(tmp_path / "a.h5", {"train": 10, "validation": 3}, mode="photo")
    b = make_store(tmp_path / "b.h5", {"train": 4, "test": 5}, mode="photo", seed=1)
    counts = store.compose(tmp_path / "c.h5", [(a, "train", "train", 1), (b, "train", "train", 3),
                                                (b, "test", "validation", 1)], source="mixed")
    assert counts == {"train": 22, "validation": 5, "test": 0}
    info = store.inspect(tmp_path / "c.h5")
    assert info.crop == "photo" and info.counts == counts and "b.h5[train] x3 -> train" in info.attrs["source"]
    assert np.array_equal(store.read(tmp_path / "c.h5", "validation")["images"], store.read(b, "test")["images"])
    with pytest.raises(Exception, match="different crops"):
        store.compose(tmp_path / "d.h5", [(a, "train", "train", 1),
                                          (make_store(tmp_path / "u.h5", {"train": 2}), "train", "train", 1)],
                      source="mixed")


@pytest.mark.slow
def test_the_localizer_trains_on_photos_only(tmp_path, tiny_store):
    from svhn_api import train
    from svhn_api.errors import DataError

    photos = make_store(tmp_path / "photos.h5", {"train": 64, "validation": 16}, mode="photo")
    out = train(photos, model="localizer", root=tmp_path, epochs=1, batch_size=32, progress=False, onnx=False)
    card = json.loads((tmp_path / "localizer" / "card.json").read_text())
    assert out.status == "complete" and card["architecture"]["name"] == "localizer"
    assert 0.0 <= out.best_val_accuracy <= 1.0 and card["input"]["crop"] == "photo"
    assert "union box" in card["architecture"]["output"]["meaning"]        # not the reader's "softmax; row 0 ..."
    with pytest.raises(DataError, match="prepare one with .*--crop photo"):
        train(tiny_store, model="localizer", root=tmp_path, name="wrong", epochs=1, progress=False)


def test_predict_without_a_box_reads_where_the_localizer_points(tmp_path):
    from svhn_api import predict
    from svhn_api.boxes import from_fractions
    from svhn_api.inference.locate import context_window, locate
    from svhn_api.models import architectures
    from svhn_api.models import io as model_io

    folder = tmp_path / "localizer"
    model_io.save(architectures.build("localizer"), folder)
    finder = model_io.load(folder)
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 120, 3), dtype=np.uint8))
    (box,) = locate([photo], finder)
    assert 0 <= box[0] < 120 and 0 <= box[1] < 50 and box[2] >= 1 and box[3] >= 1
    window = context_window((120, 50), np.array([0.4, 0.4, 0.6, 0.6]))
    assert window == pytest.approx((36.0, 15.0, 84.0, 35.0))
    assert from_fractions(np.array([0.0, 0.0, 1.0, 1.0]), window) == pytest.approx((36.0, 15.0, 48.0, 20.0))
    found = predict(photo, localizer=folder, search=False)
    assert found.located and found.box == pytest.approx(box)
    assert found.to_dict()["box"] == [round(v, 1) for v in box]
    whole = predict(photo, localizer=False)
    assert whole.box is None and not whole.located
    given = predict(photo, boxes=(10, 10, 30, 20), localizer=folder)
    assert given.box == (10.0, 10.0, 30.0, 20.0) and not given.located
    with pytest.raises(Exception, match="not a localizer"):
        predict(photo, localizer=model_io.load(None))


def test_search_windows_see_every_part_of_the_photo_larger():
    from svhn_api.inference.locate import search_windows

    wins = search_windows((120, 60))
    assert len(wins) == 2 * 2 + 3 * 3
    sizes = {(round(r - x, 3), round(b - y, 3)) for x, y, r, b in wins}
    assert sizes == {(80.0, 40.0), (60.0, 30.0)}     # 2/3 and 1/2 of the photo each way
    assert all(0 <= x < r <= 120 and 0 <= y < b <= 60 for x, y, r, b in wins)
    covered = np.zeros((60, 120), bool)
    for x, y, r, b in wins[4:]:
        covered[round(y):round(b), round(x):round(r)] = True
    assert covered.all()


def test_agreement_prefers_the_number_that_several_windows_find():
    from svhn_api.inference.locate import agreement

    whole = (40.0, 20.0, 30.0, 15.0)
    boxes = [(40.0, 20.0, 12.0, 15.0), whole, (41.0, 21.0, 29.0, 14.0), (39.0, 19.0, 31.0, 16.0), (0.0, 0.0, 9.0, 9.0)]
    numbers = ["6", "64", "64", "64", None]
    # one confident partial reading ("6") loses to the whole number read less surely in three windows
    assert agreement(boxes, numbers, [0.95, 0.5, 0.45, 0.4, 0.99]) in (1, 2, 3)
    # the same number in boxes far apart does not add up
    far = [(0.0, 0.0, 10.0, 10.0), (50.0, 50.0, 10.0, 10.0), (100.0, 0.0, 10.0, 10.0)]
    assert agreement(far, ["1", "1", "7"], [0.3, 0.3, 0.5]) == 2
    near = [(0.0, 0.0, 10.0, 10.0), (1.0, 0.0, 10.0, 10.0), (100.0, 0.0, 10.0, 10.0)]
    assert agreement(near, ["1", "1", "7"], [0.3, 0.3, 0.5]) in (0, 1)


def test_the_search_reads_numbers_small_in_a_large_photo():
    """Numbers a fifth of the photo's height in a noisy canvas: one box from the whole-photo look misreads most;
    the search (windows of the photo, the candidate the readings agree on) reads them. Shipped models."""
    from svhn_api import paths, predict
    from tests.conftest import draw_number

    if paths.default_localizer() is None:
        pytest.skip("no shipped localizer")
    rng = np.random.default_rng(3)
    photos, numbers = [], ["258", "71", "4096", "33", "190"]
    for n in numbers:
        img, _ = draw_number(n, rng)
        img = img.resize((img.width * 2, img.height * 2))
        canvas = Image.fromarray(rng.integers(90, 160, (img.height * 5, img.width * 4, 3), dtype=np.uint8))
        canvas.paste(img, (int(rng.integers(0, canvas.width - img.width)),
                           int(rng.integers(0, canvas.height - img.height))))
        photos.append(canvas)
    one_box = sum(r.number == n for r, n in zip(predict(photos, search=False, pipeline="fast"), numbers, strict=True))
    searched = predict(photos, pipeline="fast")
    right = sum(r.number == n for r, n in zip(searched, numbers, strict=True))
    assert right >= 4 and right > one_box, (one_box, [r.number for r in searched])
    assert all(r.located and r.box is not None for r in searched)
