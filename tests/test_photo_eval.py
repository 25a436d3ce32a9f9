"""The framing breakdown of whole-photo evaluations (``inference.whole_photo_eval``, used by ``evaluate
--whole-photo`` and ``svhn_api.inference.photo_eval``): how tall the number is in the photo decides its bucket, and each
bucket counts its own photos' readings and found boxes."""

from __future__ import annotations

from svhn_api.inference.evaluate import framing_line
from svhn_api.inference.photo_eval import PhotoEvaluation, framing_of_reports
from svhn_api.inference.whole_photo_eval import FRAMING, framing_bucket


def test_framing_buckets_follow_the_number_height_share():
    assert [framing_bucket(h, 100) for h in (10, 24.9, 25, 39, 40, 59, 60, 100)] == [
        "< 0.25", "< 0.25", "0.25-0.4", "0.25-0.4", "0.4-0.6", "0.4-0.6", "> 0.6", "> 0.6"]


def _report(rows: list[dict]) -> PhotoEvaluation:
    return PhotoEvaluation("m", "fast", {"count": len(rows)}, {}, "2026-12-06T00:00:00Z", rows)


def test_a_photo_evaluation_keeps_the_card_record_shape():
    """The typed result of ``evaluate_photos`` writes the same record as before: the digit classifier only when
    one read, and no rows in the card."""
    alone = _report([{"correct": True}])
    assert list(alone.to_dict()) == ["model", "pipeline", "data", "metrics", "evaluated", "rows"]
    joined = PhotoEvaluation("m", "full", {}, {"correct": 1}, "t", [], digits="d")
    assert list(joined.card_record()) == ["model", "pipeline", "digits", "data", "metrics", "evaluated"]


def test_by_framing_counts_each_bucket_from_its_own_photos():
    framing = ["< 0.25", "< 0.25", "> 0.6"]
    boxed = _report([{"correct": True}, {"correct": True}, {"correct": False}])
    whole = _report([{"correct": False, "iou": 0.1}, {"correct": True, "iou": 0.7}, {"correct": True, "iou": 0.9}])
    got = {b["framing"]: b for b in framing_of_reports(framing, boxed, whole)}
    assert list(got) == [name for _, name in FRAMING]
    assert got["< 0.25"] == {"framing": "< 0.25", "count": 2, "boxed_correct": 2, "whole_correct": 1,
                             "found_at_iou_0.5": 0.5, "mean_iou": 0.4}
    assert got["> 0.6"]["whole_correct"] == 1 and got["> 0.6"]["boxed_correct"] == 0
    assert got["0.4-0.6"] == {"framing": "0.4-0.6", "count": 0, "boxed_correct": 0, "whole_correct": 0,
                              "found_at_iou_0.5": None, "mean_iou": None}


def test_a_bucket_prints_as_one_row_even_when_empty():
    assert framing_line({"framing": "< 0.25", "count": 21, "whole_correct": 10, "boxed_correct": 17,
                         "found_at_iou_0.5": 0.476, "mean_iou": 0.4033}).split() == ["<", "0.25", "21", "10", "17",
                                                                                     "48%", "0.40"]
    assert framing_line({"framing": "0.4-0.6", "count": 0, "whole_correct": 0, "found_at_iou_0.5": None,
                         "mean_iou": None}).split() == ["0.4-0.6", "0", "0", "–", "–", "–"]


def test_full_pipeline_readings_are_counted_by_the_stage_that_found_them():
    """``by_stage``: per source of the chosen candidate (the one ``choose`` picks, not always the first) and per
    reason, how many photos and how many read right; fast-path readings are left out, and none at all: None."""
    from svhn_api.inference.choose import Candidate
    from svhn_api.inference.evaluate import stage_lines
    from svhn_api.inference.predict import Prediction
    from svhn_api.inference.text_read import TextReading
    from svhn_api.inference.whole_photo_eval import by_stage, stage

    def full(cands: list[Candidate], reason: str) -> Prediction:
        return Prediction("1", 0.9, None, pipeline="full", candidates=cands, chosen_by=reason)  # type: ignore[arg-type]

    none = TextReading("", "", 0.0, False)
    local = Candidate((0, 0, 5, 5), "localizer", "7", 0.5, none)
    text = Candidate((1, 1, 5, 5), "text-detector", "12", 0.9, TextReading("12", "12", 0.95, False))
    readings = [full([local, text], "agreement"), full([local], "reader"), full([local, text], "agreement"),
                Prediction("3", 0.9, None)]
    stages = [stage(r) for r in readings]
    assert stages == [("text-detector", "agreement"), ("localizer", "reader"), ("text-detector", "agreement"), None]
    got = by_stage(stages, [True, False, False, True])
    assert got == {"source": {"text-detector": {"count": 2, "correct": 1}, "localizer": {"count": 1, "correct": 0}},
                   "reason": {"agreement": {"count": 2, "correct": 1}, "reader": {"count": 1, "correct": 0}}}
    assert by_stage([None, None], [True, False]) is None
    lines = stage_lines({"pipeline": "full", "by_stage": got})
    assert "text-detector 1/2, localizer 0/1" in lines[0] and "agreement 1/2" in lines[1]
