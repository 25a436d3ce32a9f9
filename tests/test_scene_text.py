"""The pretrained scene-text models: shipped with provenance, loaded only when genuine, and their pre- and
post-processing (``inference.text_detect``, ``inference.text_read``) giving the package's own results."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

from svhn_api import paths
from svhn_api.boxes import box_iou
from svhn_api.errors import ArchiveError, ModelError
from svhn_api.inference import text_detect
from svhn_api.inference.text_read import ctc_decode, read_text, text_crop
from svhn_api.models import provenance, scene_text
from tests.scene_text_fixtures import EXPECTED, SCENES, scene

KINDS = ("text-detector", "text-recognizer")


def _model(kind: str) -> scene_text.SceneTextModel:
    folder = paths.default_scene_text(kind)
    assert folder is not None, f"the shipped {kind} is missing (python -m pipelines.scene_text)"
    return scene_text.load(folder, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_scene_text_models_carry_their_provenance_and_licence(kind):
    folder = paths.shipped_models_dir() / kind
    card = json.loads((folder / "card.json").read_text())
    src = card["source"]
    assert card["kind"] == kind and src["package"] == "rapidocr-onnxruntime" and src["version"] == "1.4.4"
    assert src["license"] == "Apache-2.0" and len(src["wheel_sha256"]) == 64
    assert src["file_sha256"] == provenance.sha256(folder / "model.onnx")
    licence = (folder / src["license_file"]).read_text()
    assert "PaddlePaddle" in licence and "Apache License" in licence and "Version 2.0" in licence
    assert "not SVHN" in card["data"]["kind"]


def test_a_changed_or_wrong_model_folder_is_refused(tmp_path):
    shipped = paths.shipped_models_dir() / "text-detector"
    copy = tmp_path / "text-detector"
    shutil.copytree(shipped, copy)
    with open(copy / "model.onnx", "r+b") as f:     # one byte changed: not the file its card pins
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ModelError, match="not the file its card pins"):
        scene_text.load(copy, "text-detector")
    with pytest.raises(ModelError, match="not a text-recognizer"):
        scene_text.load(shipped, "text-recognizer")
    with pytest.raises(ModelError, match="pipelines.scene_text"):
        scene_text.load(tmp_path, "text-detector")


def _flood_fill_boxes(mask: np.ndarray) -> set[tuple[int, int, int, int]]:
    """8-connected regions' bounding boxes, the slow obvious way."""
    seen = np.zeros_like(mask, dtype=bool)
    out = set()
    h, w = mask.shape
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or seen[y0, x0]:
                continue
            stack, xs, ys = [(y0, x0)], [], []
            seen[y0, x0] = True
            while stack:
                y, x = stack.pop()
                xs.append(x)
                ys.append(y)
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = y + dy, x + dx
                        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack.append((ny, nx))
            out.add((min(xs), min(ys), max(xs), max(ys)))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_regions_are_the_8_connected_components(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 57)) < (0.15 + 0.1 * seed)
    assert set(text_detect.regions(mask)) == _flood_fill_boxes(mask)


def test_a_text_core_is_grown_back_by_the_db_unclip_distance():
    prob = np.zeros((64, 128), np.float32)
    prob[20:30, 10:60] = 0.9          # a 50 x 10 core
    prob[50:52, 100:101] = 0.9        # too thin: noise
    prob[5:15, 90:120] = 0.4          # under the box threshold
    (box, score), = text_detect.boxes_from_map(prob, (256, 128))     # the photo: twice the map each way
    w, h = 51, 11                     # the core dilated by 2x2, as DBNet's post-processing does
    d = w * h * text_detect.UNCLIP / (2 * (w + h))
    assert score == pytest.approx(0.9 * 50 * 10 / (w * h))
    assert box == pytest.approx(((10 - d) * 2, (20 - d) * 2, (w + 2 * d) * 2, (h + 2 * d) * 2))


def test_the_detectors_scale_follows_the_photo():
    assert text_detect.detector_scale((100, 50)) == text_detect.MAX_UPSCALE       # a small SVHN-like photo
    assert text_detect.detector_scale((4000, 3000)) == pytest.approx(text_detect.MAX_SIDE / 4000)   # a phone photo
    x = text_detect.detector_input(scene("plate"), 1.3)
    assert x.shape[2] % 32 == 0 and x.shape[3] % 32 == 0 and -1 <= x.min() and x.max() <= 1


def test_the_border_repeats_the_edge_and_boxes_come_back_in_the_photos_pixels():
    img = scene("door")
    seen, bx, by = text_detect.bordered(img, 0.3)
    assert (bx, by) == (120, 72) and seen.size == (img.width + 240, img.height + 144)
    assert np.array_equal(np.asarray(seen)[by:by + img.height, bx:bx + img.width], np.asarray(img))
    assert np.array_equal(np.asarray(seen)[0, bx], np.asarray(img)[0, 0])        # the edge, repeated
    assert text_detect.bordered(img, 0.3, room=0.1)[1:] == (40, 24)              # no more than there is room for
    assert text_detect.bordered(img, 0.3, room=-1.0)[0] is img
    detector = _model("text-detector")
    img = img.resize((200, 120))      # small enough to be looked at 4x with a border under MAX_SIDE
    assert (text_detect.MAX_SIDE / (4 * 200) - 1) / 2 >= 0.3
    plain = text_detect.text_boxes([img], detector, border=0)[0]
    framed = text_detect.text_boxes([img], detector, border=0.3)[0]
    assert len(plain) == len(framed) == 2
    for (b, _), (c, _) in zip(sorted(plain), sorted(framed), strict=True):
        assert box_iou(b, c) > 0.85
        assert 0 <= c[0] and 0 <= c[1] and c[0] + c[2] <= img.width and c[1] + c[3] <= img.height


def _ctc(steps: list[dict[int, float]], classes: int) -> np.ndarray:
    probs = np.full((len(steps), classes), 1e-4, np.float32)
    for t, step in enumerate(steps):
        for c, p in step.items():
            probs[t, c] = p
    return probs / probs.sum(axis=1, keepdims=True)


def test_ctc_decoding_merges_repeats_drops_blanks_keeps_digits_and_reports_letters():
    chars = ["<blank>", "1", "2", "I", "A", " "]
    # "1", "1" (merged), blank, "1", "2": reads "112"
    probs = _ctc([{1: 0.9}, {1: 0.9}, {0: 0.9}, {1: 0.8}, {2: 0.95}], len(chars))
    r = ctc_decode(probs, chars)
    assert (r.text, r.digits, r.letters) == ("112", "112", False)
    assert r.score == pytest.approx(probs[[0, 3, 4]].max(axis=1).mean(), rel=1e-3)   # the three digits kept
    # a digit rated just under a look-alike letter is kept by the digits-only reading; the letter is reported
    probs = _ctc([{3: 0.5, 1: 0.45}, {0: 0.9}, {2: 0.9}], len(chars))
    r = ctc_decode(probs, chars)
    assert (r.text, r.digits, r.letters) == ("I2", "12", True)
    r = ctc_decode(_ctc([{4: 0.9}, {5: 0.9}], len(chars)), chars)
    assert (r.digits, r.score, r.letters) == ("", 0.0, True)


def test_our_processing_gives_the_packages_own_boxes_and_readings():
    """``fixtures/rapidocr_1.4.4.json``: what rapidocr-onnxruntime 1.4.4 itself (OpenCV, pyclipper, shapely)
    found and read on the same drawn scenes, at its default scale (short side 736)."""
    detector, recognizer = _model("text-detector"), _model("text-recognizer")
    expected = json.loads(EXPECTED.read_text())
    assert set(expected) == set(SCENES)
    for name, theirs in expected.items():
        img = scene(name)
        ours = text_detect.text_boxes([img], detector, max_upscale=736 / min(img.size), max_side=10**6, border=0)[0]
        assert len(ours) == len(theirs), name
        readings = read_text([text_crop(img, b) for b, _ in ours], recognizer)
        for t in theirs:
            x0, y0, x1, y1 = t["box"]
            k = max(range(len(ours)), key=lambda i: box_iou(ours[i][0], (x0, y0, x1 - x0, y1 - y0)))
            assert box_iou(ours[k][0], (x0, y0, x1 - x0, y1 - y0)) > 0.9, (name, t)
            assert readings[k].text == t["text"], (name, t, readings[k])
            assert readings[k].digits == "".join(c for c in t["text"] if c.isdigit())
            assert readings[k].letters == any(c.isalpha() for c in t["text"])


def test_the_pipeline_refuses_a_wheel_that_is_not_the_pinned_one(tmp_path):
    from pipelines import scene_text as pipeline

    fake = tmp_path / pipeline.WHEEL
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("rapidocr_onnxruntime/__init__.py", "")
    with pytest.raises(ArchiveError, match="not the pinned"):
        pipeline.verify_wheel(fake, pipeline.WHEEL, pipeline.WHEEL_SHA256)
    with pytest.raises(ArchiveError, match="0 copies"):    # a wheel without the model files (checked first)
        pipeline.read_wheel(fake)


def test_the_pipeline_writes_a_complete_model_folder(tmp_path):
    from pipelines import scene_text as pipeline

    onnx = (paths.shipped_models_dir() / "text-recognizer" / "model.onnx").read_bytes()
    pipeline.write_folder(tmp_path / "text-recognizer", "text-recognizer", onnx, "0" * 64)
    shutil.copy(paths.shipped_models_dir() / "text-recognizer" / "characters.txt", tmp_path / "expected.txt")
    assert (tmp_path / "text-recognizer" / "characters.txt").read_text() == (tmp_path / "expected.txt").read_text()
    loaded = scene_text.load(tmp_path / "text-recognizer", "text-recognizer")
    assert loaded.characters is not None and loaded.characters[0] == "<blank>" and loaded.characters[-1] == " "
    assert len(loaded.characters) == loaded.session.get_outputs()[0].shape[-1]

