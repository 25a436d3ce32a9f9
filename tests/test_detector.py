"""The detector: its targets (cell maps), its candidates, the "no number here" windows, and its training."""

import json

import numpy as np
import pytest

from svhn_api.boxes import iou
from svhn_api.inference.detect import best_boxes, candidates, target_maps
from svhn_api.training.tasks import DETECT, elsewhere
from tests.conftest import make_store


def test_target_maps_mark_the_cells_inside_the_box_and_always_its_centre():
    maps = target_maps(np.array([[0.25, 0.5, 0.75, 1.0], [0.5, 0.5, 0.51, 0.51], [np.nan] * 4]), (4, 8))
    assert maps[0].tolist() == [[0] * 8, [0] * 8, [0, 0, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 0, 0]]
    assert maps[1].sum() == 1 and maps[1][2, 4] == 1      # smaller than a cell: its centre's cell
    assert maps[2].sum() == 0                             # no number: an empty map


def test_candidates_are_the_groups_of_confident_cells_best_first():
    prob = np.zeros((8, 8))
    prob[1:3, 1:5] = 0.7            # a wide group
    prob[5:7, 6] = [0.9, 0.6]       # a small, more confident one
    prob[4, 0] = 0.4                # under the threshold: nothing
    found = candidates(prob)
    assert len(found) == 2
    (box_a, score_a), (box_b, score_b) = found
    assert score_a == 0.9 and box_a.tolist() == [6 / 8, 5 / 8, 7 / 8, 7 / 8]
    assert score_b == 0.7 and box_b.tolist() == [1 / 8, 1 / 8, 5 / 8, 3 / 8]
    (box_top, _), = candidates(prob, top=1)
    assert box_top.tolist() == box_a.tolist()
    assert candidates(np.zeros((8, 8))) == []             # "no number here"
    boxes = best_boxes([prob, np.zeros((8, 8))])
    assert boxes[0].tolist() == box_a.tolist() and np.isnan(boxes[1]).all()


def test_a_map_decodes_back_to_its_box():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x0, y0 = rng.uniform(0, 0.7, 2)
        box = np.array([x0, y0, x0 + rng.uniform(0.1, 0.3), y0 + rng.uniform(0.1, 0.3)])
        (found, _), = candidates(target_maps(box[None], (32, 32))[0])
        assert iou(found, box) > 0.7


def test_windows_elsewhere_hold_no_number():
    """A bright number drawn at the box: the windows shown as "no number here" never hold any of it."""
    rng = np.random.default_rng(0)
    images = np.zeros((40, 64, 64, 3), np.uint8)
    boxes = np.tile(np.array([[0.6, 0.6, 0.8, 0.8]], np.float32), (40, 1))
    images[:, 40:50, 40:50] = 255                        # inside the box, clear of its edges
    x, b = elsewhere(images, boxes, rng, share=1.0)
    empty = np.isnan(b).all(axis=1)
    assert empty.sum() >= 30 and (x[empty] < 128).all()
    assert np.array_equal(x[~empty], images[~empty]) and np.array_equal(b[~empty], boxes[~empty])


def test_detector_batches_pair_scene_photos_with_maps():
    rng = np.random.default_rng(1)
    boxes = np.full((6, 5, 4), np.nan, np.float32)
    boxes[:, 0] = [32, 48, 16, 32]
    batch = {"images": np.zeros((6, 128, 128, 3), np.uint8), "boxes": boxes, "sizes": np.tile([[128, 128]], (6, 1))}
    x, y = DETECT.targets(batch, None)
    assert x.shape == (6, 128, 128, 3) and y.shape == (6, 32, 32)
    assert y[0].tolist() == target_maps(np.array([[0.25, 0.375, 0.375, 0.625]]), (32, 32))[0].tolist()
    x, y = DETECT.targets(batch, rng)
    assert y.shape == (6, 32, 32) and y.sum() > 0


@pytest.mark.slow
def test_the_detector_trains_on_scene_stores_only(tmp_path, tiny_store):
    from svhn_api import train
    from svhn_api.errors import DataError
    from svhn_api.models import io as model_io

    scenes = make_store(tmp_path / "scenes.h5", {"train": 64, "validation": 16}, mode="scene")
    out = train(scenes, model="detector", root=tmp_path, epochs=1, batch_size=32, progress=False, onnx=False)
    card = json.loads((tmp_path / "detector" / "card.json").read_text())
    assert out.status == "complete" and card["architecture"]["name"] == "detector"
    assert 0.0 <= out.best_val_accuracy <= 1.0 and card["input"]["crop"] == "scene"
    assert card["architecture"]["output"] == {"shape": [32, 32], "meaning": DETECT.meaning}
    lm = model_io.load(tmp_path / "detector")
    assert lm.task == "detect" and lm.run(np.zeros((2, 128, 128, 3), np.uint8)).shape == (2, 32, 32)
    with pytest.raises(DataError, match="prepare one with .*--crop scene"):
        train(tiny_store, model="detector", root=tmp_path, name="wrong", epochs=1, progress=False)


def _stub_models():
    """A detector whose map is the photo's redness (red minus green, per 4x4 cell), and a localizer that
    always answers the centre half of the window it looks at: where the final box lands shows which window
    the localizer looked at first."""
    from svhn_api.backend import import_keras

    keras = import_keras()
    ops = keras.ops

    class Redness(keras.layers.Layer):
        def call(self, x):
            red = ops.cast(x[..., :1], "float32") - ops.cast(x[..., 1:2], "float32")
            return ops.reshape(ops.average_pool(red, 4, 4, "valid"), (-1, 32, 32)) / 255.0

    class CentreHalf(keras.layers.Layer):
        def call(self, x):
            return ops.zeros((ops.shape(x)[0], 4)) + ops.convert_to_tensor([0.25, 0.25, 0.75, 0.75])

    scene, photo = keras.Input((128, 128, 3), dtype="uint8"), keras.Input((64, 64, 3), dtype="uint8")
    return keras.Model(scene, Redness()(scene)), keras.Model(photo, CentreHalf()(photo))


def test_each_detector_candidate_adds_its_box_and_the_localizers_box_around_it():
    from PIL import Image

    from svhn_api import predict
    from svhn_api.inference.locate import candidates, detected
    from svhn_api.models.io import wrap

    detector, localizer = (wrap(m) for m in _stub_models())
    pixels = np.full((200, 400, 3), 120, np.uint8)
    pixels[100:140, 240:300] = (255, 0, 0)                 # what the detector "sees": a red patch
    photo = Image.fromarray(pixels)
    patch = np.array([240, 100, 300, 140], float)

    def ltrb(box):
        return np.array([box[0], box[1], box[0] + box[2], box[1] + box[3]])

    (found,) = detected([photo], detector)
    assert len(found) == 1 and iou(ltrb(found[0]), patch) > 0.8
    ((whole, own, around),) = candidates([photo], localizer, detector)
    assert whole == pytest.approx((100.0, 50.0, 200.0, 100.0))      # the centre half of the whole photo
    assert own == found[0]
    assert iou(ltrb(around), patch) > 0.8      # the centre half of the context window around the patch
    blank = Image.fromarray(np.full((200, 400, 3), 120, np.uint8))
    assert candidates([blank], localizer, detector) == [[pytest.approx((100.0, 50.0, 200.0, 100.0))]]

    led = predict(photo, localizer=localizer, detector=detector, search=False)
    assert led.located and any(led.box == pytest.approx(b) for b in (whole, own, around))
    alone = predict(photo, localizer=localizer, detector=False, search=False)
    assert alone.box == pytest.approx((100.0, 50.0, 200.0, 100.0))
    with pytest.raises(Exception, match="a localizer, not a detector"):
        predict(photo, localizer=localizer, detector=localizer)
