import json

import numpy as np
import pytest

from svhn_api.inference.evaluate import coverage, metrics


def _probs(rows, p=0.9):
    """Confident probabilities for label rows: ``p`` on the label, the rest spread evenly."""
    rows = np.asarray(rows)
    out = np.full((len(rows), 6, 11), (1 - p) / 10)
    np.put_along_axis(out, rows[:, :, None].astype(int), p, axis=2)
    return out


def test_metrics_on_crafted_readings():
    truth = np.array([[2, 1, 2, 10, 10, 10], [3, 4, 5, 6, 10, 10], [1, 7, 10, 10, 10, 10],
                      [2, 8, 9, 10, 10, 10]], np.int8)
    read = truth.copy()
    read[1, 3] = 0           # one wrong digit: whole number wrong, 5 of 6 heads right
    read[3] = [1, 8, 10, 10, 10, 10]   # length too short: two heads wrong
    m = metrics(_probs(read), truth)
    assert m["count"] == 4
    assert m["whole_number_accuracy"] == pytest.approx(0.5)
    assert m["capstone_per_position_accuracy"] == pytest.approx((24 - 1 - 2) / 24)
    assert m["length_accuracy"] == pytest.approx(0.75)
    pos = {p["position"]: p for p in m["per_position_accuracy"]}
    assert pos[1]["count"] == 4 and pos[1]["accuracy"] == 1.0
    assert pos[2]["count"] == 3 and pos[2]["accuracy"] == pytest.approx(2 / 3)
    assert pos[3]["count"] == 1 and pos[3]["accuracy"] == 0.0 and pos[4]["accuracy"] is None
    by_len = {a["length"]: a for a in m["accuracy_by_length"]}
    assert by_len[2]["count"] == 2 and by_len[2]["accuracy"] == 0.5 and by_len[3]["accuracy"] == 0.0
    assert m["length_confusion"]["matrix"][1] == [1, 1, 0, 0, 0]   # true length 2: one read as 1
    assert m["length_confusion"]["matrix"][2][2] == 1
    json.dumps(m)


def test_coverage_at_98():
    right = np.array([True] * 98 + [False] * 2 + [False, True] * 50)
    conf = np.linspace(1, 0, len(right))
    c = coverage(conf, right)
    assert c["coverage_at_98"] == pytest.approx(100 / 200)
    assert c["curve"][-1]["coverage"] == 1.0 and c["curve"][-1]["accuracy"] == pytest.approx(0.74)
    assert coverage(conf, ~right)["coverage_at_98"] == 0.0


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


def test_evaluate_whole_split_and_samples_recorded_in_card(tiny_store, model_folder):
    from svhn_api import evaluate

    calls = []
    report = evaluate(str(model_folder), tiny_store, split="validation", progress=False, batch_size=16, record=True,
                      on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(16, 64), (32, 64), (48, 64), (64, 64)]
    assert report.data.count == 64 and report.data.split == "validation"
    assert report.data.kind == "synthetic" and report.data.crop == "union"
    assert "whole-number accuracy" in report.text
    some = evaluate(model_folder, tiny_store, split="test", samples=8, seed=3, progress=False, record=True)
    evaluate(model_folder, tiny_store, split="test", samples=8, progress=False)  # not recorded by default
    assert evaluate(model_folder / "model.keras", tiny_store, samples=2, progress=False).data.count == 2
    assert some.samples is not None and len(some.samples) == 8 and some.data.count == 8
    assert {"truth", "prediction", "confidence", "correct", "alternatives"} <= set(some.samples[0])
    card = json.loads((model_folder / "card.json").read_text())
    assert [(e["data"]["split"], e["data"]["count"]) for e in card["evaluations"]][-2:] == [("validation", 64),
                                                                                          ("test", 8)]
    assert card["evaluations"][-2:] == [json.loads(json.dumps(r.card_record())) for r in (report, some)]
    assert "samples" not in card["evaluations"][-1]


def test_evaluation_report_as_json(tiny_store, model_folder):
    """``to_dict`` is the JSON report (its keys in order, ``samples`` only for a draw); ``text`` follows the
    fields through ``dataclasses.replace``. (The dashboard's cache of these results is exercised by its
    evaluate-page tests.)"""
    import dataclasses

    from svhn_api.inference.evaluate import evaluate

    some = evaluate(model_folder, tiny_store, split="test", samples=4, progress=False)
    assert list(some.to_dict()) == ["model", "model_steps", "data", "decode", "metrics", "seconds", "evaluated",
                                    "samples", "text"]
    assert some.to_dict()["data"] == dataclasses.asdict(some.data) and json.loads(some.to_json())["text"] == some.text
    whole = evaluate(model_folder, tiny_store, split="validation", progress=False)
    assert "samples" not in whole.to_dict() and whole.samples is None
    assert set(whole.card_record()) == set(whole.to_dict()) - {"text"}
    moved = dataclasses.replace(whole, model="elsewhere/m")
    assert moved.text.startswith("model elsewhere/m\n") and moved.text.split("\n")[1:] == whole.text.split("\n")[1:]


def test_evaluate_cli_json_and_shape_mismatch(tiny_store, model_folder, tmp_path, capsys):
    from svhn_api.cli import main
    from svhn_api.errors import ModelError
    from svhn_api.inference.evaluate import evaluate
    from tests.conftest import make_store

    assert main(["evaluate", "--model", str(model_folder), "--data", str(tiny_store), "--samples", "4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["metrics"]["count"] == 4 and len(out["samples"]) == 4
    capstone_store = make_store(tmp_path / "capstone.h5", {"test": 4}, mode="capstone")
    with pytest.raises(ModelError, match="capstone crop"):
        evaluate(model_folder, capstone_store, progress=False, record=False)


def test_whole_photo_evaluation_reads_the_original_photos(tmp_path, model_folder, monkeypatch):
    """evaluate(whole_photo=True) reads each row's photo from the archive beside the store; its figures are
    exactly what predict() gives on those photos with the same localizer, and its IoU is against the row's
    digit boxes."""
    from PIL import Image

    from svhn_api.boxes import iou, union_corners
    from svhn_api.data.archive_writer import write_archive
    from svhn_api.data.prepare import prepare
    from svhn_api.errors import DataError
    from svhn_api.inference.evaluate import evaluate
    from svhn_api.inference.predict import predict
    from svhn_api.models import architectures
    from svhn_api.models import io as model_io
    from tests.conftest import draw_number, random_numbers

    rng = np.random.default_rng(4)
    items, photos, truths = [], [], []
    for i, number in enumerate(random_numbers(12, rng)):
        img, boxes = draw_number(number, rng)
        photo = Image.new("RGB", (img.width * 3, img.height * 2), (120, 110, 100))
        photo.paste(img, (img.width, img.height // 2))
        shifted = [type(b)(b.label, b.left + img.width, b.top + img.height // 2, b.width, b.height) for b in boxes]
        items.append((f"{i + 1}.png", photo, shifted))
        photos.append(photo)
        truths.append(number)
    (tmp_path / "archives").mkdir()
    for split in ("train", "test"):
        write_archive(tmp_path / "archives" / f"{split}.tar.gz", split, items)
    data = prepare(tmp_path / "archives", splits=("train", "test"), out=tmp_path / "store.h5", jobs=1,
                   validation_size=2, download=False, verify=False, progress=False).path
    finder = tmp_path / "localizer"
    model_io.save(architectures.build("localizer"), finder)

    from svhn_api.data import store

    opened, open_store = [], store._open
    monkeypatch.setattr(store, "_open", lambda path: opened.append(path) or open_store(path))
    report = evaluate(model_folder, data, split="test", progress=False, whole_photo=True, localizer=finder)
    assert len(opened) == 1   # the crops, the rows' photos and the data facts: one opening of the store
    w = report.metrics["whole_photo"]
    expected = predict(photos, model=model_folder, localizer=finder)
    assert w["count"] == 12 and w["missing"] == 0
    assert w["correct"] == sum(p.number == t for p, t in zip(expected, truths, strict=True))
    found = np.array([[p.box[0], p.box[1], p.box[0] + p.box[2], p.box[1] + p.box[3]] for p in expected])
    digit_boxes = np.full((12, 5, 4), np.nan, np.float32)
    for i, (_, _, boxes) in enumerate(items):
        digit_boxes[i, :len(boxes)] = [[b.left, b.top, b.width, b.height] for b in boxes]
    assert w["mean_iou"] == pytest.approx(float(iou(found, union_corners(digit_boxes)).mean()), abs=1e-4)
    assert "whole photo, number found by the localizer" in report.text
    from svhn_api.inference.whole_photo_eval import framing_bucket

    buckets = {b["framing"]: b for b in w["by_framing"]}
    union = union_corners(digit_boxes)
    expected_buckets = [framing_bucket(y1 - y0, p.height) for (_, y0, _, y1), p in zip(union, photos, strict=True)]
    assert {k: b["count"] for k, b in buckets.items() if b["count"]} == {
        k: expected_buckets.count(k) for k in set(expected_buckets)}
    assert sum(b["whole_correct"] for b in buckets.values()) == w["correct"]
    assert sum(b["boxed_correct"] for b in buckets.values()) == round(report.metrics["whole_number_accuracy"] * 12)
    assert "by framing" in report.text
    from svhn_api.inference.whole_photo_eval import stage

    assert w["pipeline"] == expected[0].pipeline   # the full pipeline where the scene-text models are shipped
    if w["pipeline"] == "full":   # each photo counted under the stage that found its chosen box, and its reason
        right = [p.number == t for p, t in zip(expected, truths, strict=True)]
        for key, k in (("source", 0), ("reason", 1)):
            names = [stage(p)[k] for p in expected]  # type: ignore[index]
            assert w["by_stage"][key] == {n: {"count": names.count(n), "correct": sum(
                ok for m, ok in zip(names, right, strict=True) if m == n)} for n in set(names)}
        assert "right / photos by what found the chosen box" in report.text
    else:
        assert w["by_stage"] is None

    (tmp_path / "archives" / "test.tar.gz").rename(tmp_path / "elsewhere.tar.gz")
    with pytest.raises(DataError, match="none of its original photos is here"):
        evaluate(model_folder, data, split="test", progress=False, whole_photo=True, localizer=finder)


def test_truth_boxes_are_the_union_of_the_digit_boxes():
    from svhn_api.boxes import union_corners

    boxes = np.full((1, 5, 4), np.nan, np.float32)
    boxes[0, :2] = [[10, 5, 8, 20], [20, 7, 9, 21]]
    assert union_corners(boxes).tolist() == [[10, 5, 29, 28]]
