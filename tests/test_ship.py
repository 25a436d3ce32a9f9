"""Shipping a model pair re-records the pair's real-photo evaluations in both cards (``pipelines.ship``): the
earlier real-SVHN records go, other records stay, and each new record names the models it measured."""

from __future__ import annotations

from svhn_api.inference.photo_eval import PhotoEvaluation
from svhn_api.models import card as cards


def _result(name: str, crop: str, correct: int, count: int) -> PhotoEvaluation:
    return PhotoEvaluation("m", "full", {"name": name, "split": "test", "kind": "real SVHN", "crop": crop,
                                         "count": count},
                           {"whole_number_accuracy": round(correct / count, 6), "correct": correct, "count": count},
                           "2026-12-02T00:00:00Z", [])


def test_shipping_replaces_the_real_photo_evaluations_of_both_cards(tmp_path):
    from pipelines.ship import copy_run, rerecord

    synthetic = {"model": "m", "data": {"name": "synthetic test split", "kind": "synthetic"}, "metrics": {}}
    stale = {"model": "m", "data": {"name": "real SVHN test photos (30)", "kind": "real SVHN"},
             "metrics": {"correct": 14, "count": 30}}
    run, shipped = tmp_path / "runs" / "compact-new", tmp_path / "shipped"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(b"new weights")
    cards.write(run, cards.ModelCard(name="compact", evaluations=[synthetic, stale]))
    copy_run(run, shipped / "compact")
    cards.write(shipped / "localizer", cards.ModelCard(name="localizer", evaluations=[stale]))
    assert (shipped / "compact" / "model.keras").read_bytes() == b"new weights"

    results = {"test_gt_box": _result("real SVHN test photos (130)", "ground-truth union box", 101, 130),
               "test_whole_photo": _result("real SVHN test photos (130)", "whole photo", 76, 130)}
    rerecord(shipped / "compact", shipped / "localizer", results)

    reader = cards.read(shipped / "compact").evaluations
    assert reader[0] == synthetic and [e["metrics"]["correct"] for e in reader[1:]] == [101, 76]
    assert "localizer" not in reader[1] and reader[2]["localizer"].endswith("localizer/model.keras")
    assert all("rows" not in e for e in reader)
    located = cards.read(shipped / "localizer").evaluations
    assert [e["metrics"]["correct"] for e in located] == [76]
    assert located[0]["model"].endswith("localizer/model.keras") and located[0]["reader"].endswith(
        "compact/model.keras")


def test_shipping_with_a_detector_records_it_in_its_card_and_names_it(tmp_path):
    from pipelines.ship import rerecord

    shipped = tmp_path / "shipped"
    for name in ("compact", "localizer", "detector"):
        cards.write(shipped / name, cards.ModelCard(name=name))
    results = {"test_gt_box": _result("real SVHN test photos (130)", "ground-truth union box", 101, 130),
               "test_whole_photo": _result("real SVHN test photos (130)", "whole photo", 90, 130)}
    rerecord(shipped / "compact", shipped / "localizer", results, shipped / "detector")
    whole = cards.read(shipped / "compact").evaluations[1]
    assert whole["detector"].endswith("detector/model.keras") and whole["localizer"].endswith("localizer/model.keras")
    (found,) = cards.read(shipped / "detector").evaluations
    assert found["metrics"]["correct"] == 90 and found["model"].endswith("detector/model.keras")
    assert found["reader"].endswith("compact/model.keras")
