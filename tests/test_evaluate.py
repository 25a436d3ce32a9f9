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
    assert report["data"]["count"] == 64 and report["data"]["split"] == "validation"
    assert report["data"]["kind"] == "synthetic" and report["data"]["crop"] == "union"
    assert "whole-number accuracy" in report["text"]
    some = evaluate(model_folder, tiny_store, split="test", samples=8, seed=3, progress=False, record=True)
    evaluate(model_folder, tiny_store, split="test", samples=8, progress=False)  # not recorded by default
    assert evaluate(model_folder / "model.keras", tiny_store, samples=2, progress=False)["data"]["count"] == 2
    assert len(some["samples"]) == 8 and some["data"]["count"] == 8
    assert {"truth", "prediction", "confidence", "correct", "alternatives"} <= set(some["samples"][0])
    card = json.loads((model_folder / "card.json").read_text())
    assert [(e["data"]["split"], e["data"]["count"]) for e in card["evaluations"]][-2:] == [("validation", 64),
                                                                                          ("test", 8)]
    assert "samples" not in card["evaluations"][-1]


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
