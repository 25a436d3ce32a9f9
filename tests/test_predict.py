import io
import itertools
import json
import warnings

import numpy as np
import pytest
from PIL import Image

from svhn_api import paths
from svhn_api.errors import ImageError
from svhn_api.inference.decode import argmax_rows, decode_batch, row_to_number, topk


def _spread(n, seed=0):
    return np.random.default_rng(seed).dirichlet(np.full(11, 0.5), size=(n, 6))


NAMES = {k: np.array(["".join(map(str, d)) for d in itertools.product(range(10), repeat=k)]) for k in range(1, 6)}


def _brute_force(p, none_terms=True):
    """Every reading of 1-5 digits with its joint probability, best first."""
    names, scores = [], []
    for length in range(1, 6):
        s = np.array([p[0, length]])
        for i in range(1, length + 1):
            s = np.multiply.outer(s, p[i, :10]).ravel()   # same order as itertools.product
        if none_terms:
            s = s * np.prod(p[length + 1:, 10])
        names.append(NAMES[length])
        scores.append(s)
    names, scores = np.concatenate(names), np.concatenate(scores)
    order = np.argsort(-scores, kind="stable")[:10]
    return [(str(names[i]), float(scores[i])) for i in order]


def test_joint_decoding_beats_per_head_argmax():
    p = np.full((6, 11), 0.01)
    p[0, [2, 3]] = 0.45, 0.40          # length head slightly prefers 2 ...
    p[1, 4] = p[2, 2] = 0.9            # "42"
    p[3, 7], p[3, 10] = 0.85, 0.05     # ... but position 3 is confidently a 7
    p[4:, 10] = 0.9
    p /= p.sum(1, keepdims=True)
    heads = argmax_rows(p[None])[0]
    assert heads[0] == 2 and heads[3] == 7   # per-head argmax: length 2, yet a digit at position 3
    rows, conf = decode_batch(p[None])
    assert row_to_number(rows[0]) == "427" and rows[0].tolist() == [3, 4, 2, 7, 10, 10]
    best = _brute_force(p)[0]
    assert best[0] == "427" and conf[0] == pytest.approx(best[1])
    # without the 'no digit' factors (masked-loss models) the length head decides
    assert row_to_number(decode_batch(p[None], none_terms=False)[0][0]) == "42"


def test_decoding_matches_brute_force_enumeration():
    probs = _spread(3, seed=4)
    rows, conf = decode_batch(probs)
    for p, row, c in zip(probs, rows, conf, strict=True):
        for none_terms in (True, False):
            brute = _brute_force(p, none_terms)[:5]
            got = topk(p, 5, none_terms)
            assert [n for n, _ in got] == [n for n, _ in brute]
            np.testing.assert_allclose([s for _, s in got], [s for _, s in brute], rtol=1e-9)
        assert row_to_number(row) == _brute_force(p)[0][0] and c == pytest.approx(_brute_force(p)[0][1])
    with pytest.raises(ValueError):
        decode_batch(np.zeros((2, 5, 11)))


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    pytest.importorskip("keras")
    from svhn_api.models import architectures as models
    from svhn_api.models import card as cards
    from svhn_api.models import io as model_io

    folder = tmp_path_factory.mktemp("models") / "untrained"
    model_io.save(models.build("compact"), folder)
    cards.write(folder, cards.ModelCard(name="untrained"))
    return folder


def _png(size=(90, 40), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_predict_accepts_every_input_kind(tmp_path, model_folder):
    from svhn_api import predict

    path = tmp_path / "a.png"
    path.write_bytes(_png())
    inputs = [str(path), path, _png(), Image.open(io.BytesIO(_png())).convert("L"),
              np.zeros((30, 50), np.uint8), np.random.default_rng(0).random((33, 77, 4)),
              np.zeros((300, 20, 3), np.uint16)]
    results = predict(inputs, model=model_folder)
    assert isinstance(results, list) and len(results) == len(inputs)
    one = predict(str(path), model=model_folder)
    assert not isinstance(one, list)
    assert one.number == results[0].number and one.confidence == pytest.approx(results[0].confidence, rel=1e-5)
    assert one.probabilities.shape == (6, 11) and 1 <= len(one.number) <= 5
    fast = predict(str(path), model=model_folder, pipeline="fast")
    assert len(fast.alternatives) == 4 and all(p <= fast.confidence for _, p in fast.alternatives)
    d = json.loads(json.dumps(one.to_dict()))
    assert set(d) == {"number", "confidence", "unsure", "alternatives", "probabilities", "box", "located", "error",
                      "runtime", "pipeline", "chosen_by", "why", "candidates"}
    assert one.ok and d["error"] is None
    assert predict([], model=model_folder) == []


def test_boxes_crop_exactly_as_the_pipeline(model_folder):
    from svhn_api import predict
    from svhn_api.data.preprocess import crop_union
    from svhn_api.inference.predict import model_input
    from svhn_api.models import io as model_io

    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (80, 160, 3), dtype=np.uint8))
    box = (30.0, 10.0, 50.5, 40.0)
    np.testing.assert_array_equal(model_input(img, (64, 64, 3), box), crop_union(img, box))
    np.testing.assert_array_equal(model_input(img, (64, 64, 3)), crop_union(img, None))
    lm = model_io.load(model_folder)
    want = lm.probabilities(crop_union(img, box)[None])[0]
    np.testing.assert_allclose(predict(img, model=model_folder, boxes=box, digits=False).probabilities, want,
                               atol=1e-6)
    two = predict([img, img], model=model_folder, boxes=[box, None], digits=False)
    np.testing.assert_allclose(two[0].probabilities, want, atol=1e-6)
    with pytest.raises(ValueError, match="one per image"):
        predict([img, img], model=model_folder, boxes=[box])
    with pytest.raises(ImageError, match="outside"):
        predict(img, model=model_folder, boxes=(500, 500, 10, 10))


def test_bad_inputs_raise_image_error_naming_the_input(tmp_path, model_folder):
    from svhn_api import predict

    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(_png((200, 200))[:60])
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 5000)).save(bomb)    # 45 megapixels in a few kB
    for bad, name in ((text, "notes.png"), (empty, "empty.png"), (truncated, "cut.png"), (bomb, "bomb.png"),
                      (np.zeros((2, 8, 8, 3), np.uint8), "array"), (np.zeros((8, 8, 2), np.uint8), "array"),
                      (tmp_path / "missing.png", "missing.png"), (12, "int")):
        with pytest.raises(ImageError, match=name):
            predict(str(bad) if isinstance(bad, type(tmp_path)) else bad, model=model_folder)
    with pytest.raises(ImageError, match="empty.png"):
        predict([_png(), str(empty)], model=model_folder)


def _text_file(tmp_path, name="notes.png"):
    path = tmp_path / name
    path.write_text("not an image at all")
    return path


def test_one_bad_input_does_not_stop_the_others(tmp_path, model_folder):
    from svhn_api import predict
    from svhn_api.inference.predict import Prediction

    good, text = _png(), _text_file(tmp_path)
    inputs = [good, str(text), np.zeros((30, 50), np.uint8), tmp_path, str(tmp_path / "missing.png")]
    with pytest.raises(ImageError, match="notes.png"):
        predict(inputs, model=model_folder)
    results = predict(inputs, model=model_folder, errors="return")
    assert [r.ok for r in results] == [True, False, True, False, False]
    assert results[0].number == predict(good, model=model_folder).number
    bad = results[1]
    assert isinstance(bad, Prediction) and bad.number is None and bad.probabilities is None
    assert bad.error.startswith(f"{text}: not a readable image")
    assert "a folder" in results[3].error and "no such file" in results[4].error
    rows = json.loads(json.dumps([r.to_dict() for r in results]))
    assert rows[1]["error"] == bad.error and rows[1]["number"] is None and rows[0]["error"] is None
    single = predict(str(text), model=model_folder, errors="return")
    assert isinstance(single, Prediction) and not single.ok and "notes.png" in single.error
    with pytest.raises(ValueError, match="errors="):
        predict(good, model=model_folder, errors="ignore")
    named = predict([good, text.read_bytes()], model=model_folder, errors="return", names=[None, "upload.png"])
    assert named[0].ok and named[1].error.startswith("upload.png: not a readable image")
    with pytest.raises(ValueError, match="names: got 1 names for 2 images"):
        predict([good, good], model=model_folder, names=["a.png"])


def test_a_bad_input_does_not_break_the_localizer_batch(tmp_path, model_folder):
    from svhn_api import predict
    from svhn_api.models import architectures
    from svhn_api.models import io as model_io

    finder = tmp_path / "localizer"
    model_io.save(architectures.build("localizer"), finder)
    rng = np.random.default_rng(0)
    photos = [Image.fromarray(rng.integers(0, 256, (50, 120, 3), dtype=np.uint8)) for _ in range(2)]
    results = predict([photos[0], b"not an image", photos[1]], model=model_folder, localizer=finder,
                      errors="return")
    assert [r.ok for r in results] == [True, False, True] and results[1].error.startswith("<12 bytes>")
    assert results[0].located and results[2].located
    assert results[2].box == pytest.approx(predict(photos[1], model=model_folder, localizer=finder).box, abs=1e-3)


def test_boxes_are_checked_against_the_image(model_folder):
    from svhn_api import predict
    from svhn_api.data.preprocess import crop_union
    from svhn_api.errors import BoxWarning
    from svhn_api.inference.predict import model_input

    img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 90, 3), dtype=np.uint8))
    for box, message in (((float("nan"), 0, 10, 10), r"box \(nan, 0, 10, 10\) holds a value that is not a finite"),
                         ((0, 0, float("inf"), 10), "not a finite number"),
                         ((1, 2, 3), r"box \(1, 2, 3\) has 3 numbers; give 4 numbers: left, top, width, height"),
                         ("1,2,3,4", "'1,2,3,4' is not 4 numbers"),
                         ((5, 5, 0, 10), "must have a width and height greater than 0"),
                         ((-20, -20, 10, 10), r"outside the 90x40 image"),
                         ((90, 0, 10, 10), r"outside the 90x40 image")):
        with pytest.raises(ImageError, match=message):
            predict(img, model=model_folder, boxes=box)
    with pytest.warns(BoxWarning, match=r"partly outside the 90x40 image; it is clipped to the image: "
                                        r"\(0, 0, 5, 5\)") as caught:
        clipped = predict(img, model=model_folder, boxes=(-5, -5, 10, 10))
    assert caught[0].filename == __file__   # the warning points at the caller's line
    assert clipped.ok and clipped.box == (-5.0, -5.0, 10.0, 10.0)
    with pytest.warns(BoxWarning):
        np.testing.assert_array_equal(model_input(img, (64, 64, 3), (80, 30, 20, 20)),
                                      crop_union(img, (80, 30, 20, 20)))
    results = predict([img, img], model=model_folder, boxes=[(1, 2, 3), (10, 10, 20, 20)], errors="return")
    assert "has 3 numbers" in results[0].error and results[1].ok
    with warnings.catch_warnings():   # inside the image, in fractional pixels (0.1 + 0.2 is not 0.3): no warning
        warnings.simplefilter("error", BoxWarning)
        assert predict(img, model=model_folder, boxes=(10.1, 5.1, 30.2, 20.2)).ok


def test_warm_path_does_not_retrace_and_default_model(model_folder):
    from svhn_api import predict
    from svhn_api.models import io as model_io

    lm = model_io.load(model_folder)
    for n in (1, 3, 1, 5):
        predict([np.zeros((20, 40, 3), np.uint8)] * n, model=model_folder)
    assert lm.traces == 1
    if not (paths.default_model() / "model.keras").is_file():
        pytest.skip("no shipped default model in artifacts/models/compact")
    r = predict(np.zeros((40, 80, 3), np.uint8))
    assert r.probabilities.shape == (6, 11)
    assert model_io.load(None) is model_io.load(None)


def test_predict_cli(tmp_path, model_folder, capsys):
    from svhn_api.cli import main

    path = tmp_path / "a.png"
    path.write_bytes(_png())
    assert main(["predict", str(path), "--model", str(model_folder), "--box", "5,5,30,20", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows[0]["image"] == str(path) and rows[0]["number"]
    assert main(["predict", str(tmp_path / "nope.png"), "--model", str(model_folder)]) == 2
    assert "nope.png" in capsys.readouterr().err


def test_predict_cli_reads_every_input_and_reports_each_failure(tmp_path, model_folder, capsys, monkeypatch):
    """Run from another folder: each image is named as it was given, good ones are read, bad ones reported."""
    from svhn_api.cli import main

    (tmp_path / "photos").mkdir()
    good, good2 = tmp_path / "photos" / "good.png", tmp_path / "photos" / "good2.png"
    good.write_bytes(_png())
    good2.write_bytes(_png((60, 30), (10, 10, 10)))
    _text_file(tmp_path / "photos", "text.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    argv = ["predict", "../photos/good.png", "../photos/text.png", str(good2), "--model", str(model_folder)]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("../photos/good.png: ") and lines[1].startswith(f"{good2}: ")
    assert err.startswith("error: ../photos/text.png: not a readable image"), err
    assert main([*argv, "--json"]) == 1
    out, err = capsys.readouterr()
    rows = json.loads(out.strip().splitlines()[-1])
    assert [r["image"] for r in rows] == ["../photos/good.png", "../photos/text.png", str(good2)]
    assert [r["error"] is None for r in rows] == [True, False, True] and rows[1]["number"] is None
    assert "../photos/text.png: not a readable image" in rows[1]["error"] and "text.png" in err
    assert main(["predict", str(good), "--model", str(model_folder)]) == 0
    capsys.readouterr()


def test_predict_cli_box_starting_left_of_the_image(tmp_path, model_folder, capsys):
    from svhn_api.cli import main

    path = tmp_path / "a.png"
    path.write_bytes(_png((90, 40)))
    assert main(["predict", str(path), "--model", str(model_folder), "--box", "-5,-5,10,10", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])[0]["box"] == [-5.0, -5.0, 10.0, 10.0]
    assert err == f"warning: {path}: box (-5, -5, 10, 10) lies partly outside the 90x40 image; it is clipped to " \
                  "the image: (0, 0, 5, 5)\n"
    assert main(["predict", str(path), "--model", str(model_folder), "--box=-50,-5,10,10"]) == 2   # none read
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {path}: box (-50, -5, 10, 10) lies outside the 90x40 image")


def test_evaluate_cli_names_model_and_store_as_given(tmp_path, model_folder, capsys, monkeypatch):
    """The report's paths are relative to the checkout (for cards); the command prints them as the user
    typed them, which is right from any folder."""
    import shutil

    from svhn_api.cli import main
    from tests.conftest import make_store

    checkout = tmp_path / "checkout"
    (checkout / "data").mkdir(parents=True)
    store = make_store(checkout / "data" / "s.h5", {"test": 4})
    model = checkout / "models" / "m"
    shutil.copytree(model_folder, model)
    monkeypatch.setattr(paths, "CHECKOUT", checkout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["evaluate", "--model", "../checkout/models/m", "--data", str(store), "--samples", "2"]) == 0
    text = capsys.readouterr().out
    assert "model ../checkout/models/m\n" in text and f"data  {store} [test]" in text, text
    assert main(["evaluate", "--model", "../checkout/models/m", "--data", str(store), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["model"] == "../checkout/models/m" and report["data"]["path"] == str(store)
    assert report["text"].startswith("model ../checkout/models/m\n")


def test_shipped_model_reads_real_photos_with_their_boxes():
    """Optional: every real SVHN test photo beside the checkout (evaluation only), cropped by its official boxes."""
    from svhn_api import predict
    from svhn_api.boxes import union
    from svhn_api.records import DigitBox
    from tests.conftest import need_shared

    root = need_shared()
    if not (paths.default_model() / "model.keras").is_file():
        pytest.skip("no shipped default model in artifacts/models/compact")
    ann = {a["filename"]: a for a in json.loads((root / "annotations" / "test.json").read_text())}
    files = sorted((root / "images" / "test").glob("*.png"), key=lambda p: int(p.stem))
    assert files, f"no test photos in {root / 'images' / 'test'}"
    boxes = [union([DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"])
                        for b in ann[f.name]["boxes"]]) for f in files]
    results = predict([str(f) for f in files], boxes=boxes)
    right = sum(r.number == ann[f.name]["number"] for r, f in zip(results, files, strict=True))
    assert right >= 0.6 * len(files), f"{right}/{len(files)} real test photos read right"


def test_seed_crop_models_are_refused_with_a_clear_error(tmp_path):
    from svhn_api import predict
    from svhn_api.errors import ModelError
    from svhn_api.models import architectures as models
    from svhn_api.models import card as cards
    from svhn_api.models import io as model_io

    folder = tmp_path / "capstone"
    model_io.save(models.build("capstone", (32, 32, 1)), folder)
    cards.write(folder, cards.ModelCard(name="capstone", input=cards.InputSpec([32, 32, 1], crop="capstone")))
    with pytest.raises(ModelError, match="'capstone' crop"):
        predict(_png(), model=folder)


def test_readings_under_the_cards_calibrated_confidence_are_flagged_unsure(model_folder, tmp_path):
    import shutil

    from svhn_api import predict
    from svhn_api.models import card as cards

    for name, threshold in (("strict", 1.01), ("lenient", 0.0)):
        shutil.copytree(model_folder, tmp_path / name)
        card = cards.read(tmp_path / name)
        card.decode.unsure_below, card.decode.unsure_basis = threshold, "test"
        cards.write(tmp_path / name, card)
    # the fast path, the reader alone: its card's threshold (joined with the digit classifier, that card's:
    # test_digit_slots); the full pipeline's comes from its calibration (test_choose)
    def fast(model):
        return predict(_png(), model=model, localizer=False, digits=False, pipeline="fast")

    assert fast(tmp_path / "strict").unsure
    assert not fast(tmp_path / "lenient").unsure
    assert not fast(model_folder).unsure   # no threshold


def test_the_unsure_threshold_keeps_the_target_accuracy():
    from svhn_api.inference.evaluate import unsure_threshold

    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    right = np.array([True, True, True, False, True, False])
    threshold, accuracy, kept = unsure_threshold(confidence, right, 0.98)
    assert threshold == pytest.approx(0.85) and (accuracy, kept) == (1.0, 0.5)   # halfway to the next one down
    threshold, accuracy, kept = unsure_threshold(confidence, np.array([False, True, True, True, True, True]), 0.98)
    assert threshold == 0.6 and accuracy == pytest.approx(5 / 6) and kept == 1.0   # the best it can do


def test_the_unsure_threshold_has_a_margin_noise_cannot_flip():
    """A threshold equal to one reading's confidence flips that reading on float noise (issue 29: 5e-13 was
    enough); the threshold lies between two readings' confidences, so such noise changes no reading."""
    from svhn_api.inference.evaluate import unsure_threshold

    rng = np.random.default_rng(0)
    confidence = 1 - np.sort(rng.uniform(1e-9, 1e-6, 50))
    right = np.arange(50) < 45
    threshold, _, _ = unsure_threshold(confidence, right, 0.98)
    sure = confidence >= threshold
    assert not np.isin(threshold, confidence)
    for noise in (5e-13, -5e-13):
        assert np.array_equal(confidence + noise >= threshold, sure)
    # ties share one side: a threshold never splits readings of the same confidence
    tied = np.array([0.9, 0.9, 0.9, 0.5])
    threshold, _, kept = unsure_threshold(tied, np.array([True, True, False, False]), 0.6)
    assert kept == 0.75 and threshold == pytest.approx(0.7)


def test_a_photo_with_no_number_is_flagged_unsure():
    """Plain walls (flat, brick, noise, a gradient) read with the shipped reader and localizer: whatever the
    best guess, it comes back flagged unsure, never as a confident reading."""
    from PIL import ImageDraw

    from svhn_api import paths, predict

    if not (paths.shipped_models_dir() / "compact" / "model.keras").is_file() or paths.default_localizer() is None:
        pytest.skip("no shipped reader and localizer in artifacts/models")
    rng = np.random.default_rng(0)
    brick = Image.new("RGB", (400, 300), (170, 80, 60))
    draw = ImageDraw.Draw(brick)
    for y in range(0, 300, 25):
        for x in range(-(y // 25 % 2) * 30, 400, 60):
            draw.rectangle([x, y, x + 56, y + 21], fill=(150 + int(rng.integers(0, 40)), 70, 50))
    gradient = (np.linspace(60, 200, 320)[None, :, None] * np.ones((240, 1, 3))).astype(np.uint8)
    walls = [Image.new("RGB", (300, 200), (150, 140, 130)), Image.new("RGB", (640, 480), (240, 240, 235)), brick,
             Image.fromarray(rng.normal(128, 20, (240, 320, 3)).clip(0, 255).astype(np.uint8)),
             Image.fromarray(gradient)]
    readings = predict(walls)
    assert all(r.unsure for r in readings), [(r.number, round(r.confidence, 3)) for r in readings]


def test_a_large_photo_is_read_from_its_reduced_copy_and_its_box_given_in_its_own_pixels():
    """Read whole, a photo over twice ``WORKING_SIDE`` is read from a copy reduced by a whole factor (a PNG: box
    averages, ``Image.reduce``): the same reading as that copy's, the box scaled back to the photo's pixels; with
    a box given, it is read at full resolution."""
    from svhn_api.data.images import WORKING_SIDE
    from svhn_api.inference.predict import predict
    from tests.conftest import draw_number

    img, _ = draw_number("47", np.random.default_rng(3))
    k = -(-2 * WORKING_SIDE // img.width) + 1
    big = img.convert("RGB").resize((img.width * k, img.height * k), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    big.save(buf, "PNG")
    copy = big.reduce(2)
    whole, reduced = predict(buf.getvalue(), pipeline="fast"), predict(copy, pipeline="fast")
    assert whole.located and whole.number == reduced.number and whole.confidence == reduced.confidence
    np.testing.assert_allclose(whole.box, [2 * v for v in reduced.box])
    box = (k * 2.0, k * 2.0, big.width - k * 4.0, big.height - k * 4.0)
    boxed = predict(buf.getvalue(), boxes=box, pipeline="fast")
    assert boxed.box == box and boxed.number == predict(np.asarray(big), boxes=box, pipeline="fast").number
