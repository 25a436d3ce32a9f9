"""The full pipeline: its proposals, its rule for choosing, its calibration, and predict() going through them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from svhn_api.errors import ModelError
from svhn_api.inference import calibration
from svhn_api.inference.choose import READER_UNSURE, RECOGNIZER_MIN, Candidate, choose
from svhn_api.inference.propose import joined, propose
from svhn_api.inference.text_read import TextReading
from tests.scene_text_fixtures import scene


def _c(number, confidence, text, score, letters=False, box=(0.0, 0.0, 10.0, 10.0), source="text-detector"):
    digits = "".join(ch for ch in text if ch.isdigit())
    return Candidate(box, source, number, confidence, TextReading(text, digits, score, letters))


def test_agreement_beats_a_more_confident_reader_and_letters_never_agree():
    first = _c("16", 1.0, "", 0.0, source="localizer")              # a door handle read "16" at 1.00
    right = _c("57", 0.9, "57", 0.95)
    sign = _c("8", 1.0, "B", 0.9, letters=True)                      # the recognizer saw a letter
    choice = choose([first, right, sign])
    assert (choice.index, choice.number, choice.reason) == (1, "57", "agreement")
    assert "both readers read 57" in choice.why([first, right, sign])


def test_two_boxes_agreeing_on_one_number_are_corroborated():
    cands = [_c("57", 0.99, "57", 0.9, source="localizer"), _c("57", 0.999, "57", 0.95), _c("5", 0.99, "5", 0.9)]
    choice = choose(cands)
    assert choice.reason == "corroborated" and choice.number == "57" and choice.index == 1
    assert choose(cands[1:]).reason == "agreement"      # "57" and "5" each agree once


def test_the_recognizer_answers_only_when_the_reader_is_unsure_and_it_is_confident():
    sure_reader = [_c("12", READER_UNSURE, "13", 0.99)]
    assert (choose(sure_reader).number, choose(sure_reader).reason) == ("12", "reader")
    unsure = [_c("12", READER_UNSURE - 0.01, "", 0.0, source="localizer"), _c("4", 0.3, "13", RECOGNIZER_MIN)]
    assert (choose(unsure).number, choose(unsure).reason, choose(unsure).index) == ("13", "recognizer", 1)
    weak = [_c("12", 0.5, "", 0.0), _c("4", 0.3, "13", RECOGNIZER_MIN - 0.01)]
    assert (choose(weak).number, choose(weak).reason, choose(weak).index) == ("12", "reader", 0)
    with pytest.raises(ValueError):
        choose([])


def test_evidence_grows_with_both_readers_confidence():
    low = choose([_c("57", 0.9, "57", 0.8)]).evidence
    high = choose([_c("57", 0.9999, "57", 0.99)]).evidence
    assert high > low > 0


def test_proposals_keep_the_fast_paths_box_first_and_join_a_split_number():
    one, seven, far = (10.0, 10.0, 10.0, 20.0), (24.0, 11.0, 10.0, 19.0), (200.0, 10.0, 10.0, 20.0)
    assert joined([one, seven]) == [(10.0, 10.0, 24.0, 20.0)]
    assert joined([one, far]) == []                              # too far apart
    assert joined([one, (24.0, 40.0, 10.0, 20.0)]) == []         # not on one line
    out = propose((9.0, 9.0, 30.0, 22.0), "localizer", [(one, 0.9), (seven, 0.8)])
    assert out[0] == ((9.0, 9.0, 30.0, 22.0), "localizer")
    assert [s for _, s in out] == ["localizer", "text-detector", "text-detector", "text-detector, joined"]


def test_calibration_is_monotone_never_certain_and_sure_only_where_validation_was_right():
    rng = np.random.default_rng(1)
    evidence = rng.uniform(0, 30, 400)
    right = rng.random(400) < 1 / (1 + np.exp(-(evidence - 10) / 1.5))   # right more often with more evidence
    reasons = ["agreement"] * 400
    mode = calibration.fit_mode(reasons, evidence, right)
    starts, shares = mode.pools["agreement"]
    assert list(starts) == sorted(starts) and all(a < b for a, b in zip(shares, shares[1:], strict=False))
    assert 0 < min(shares) and max(shares) < 1
    conf = np.array([mode.confidence("agreement", e) for e in evidence])
    sure = conf >= mode.sure_from
    assert sure.any() and right[sure].mean() >= calibration.TARGET
    assert not np.isin(mode.sure_from, conf)       # between two confidences: noise cannot flip a reading
    assert mode.confidence("reader", 5.0) == 0.0    # no validation reading of that kind: never sure


def test_calibration_round_trips_and_a_stale_file_is_an_error(tmp_path):
    mode = calibration.fit_mode(["reader", "reader", "agreement"], [1.0, 2.0, 9.0], [False, True, True])
    cal = calibration.Calibration({"whole photo": mode, "given box": mode}, {"photos": "test"})
    path = calibration.write(cal, tmp_path)
    back = calibration.read(path)
    assert back is not None and back.modes["whole photo"].pools == mode.pools and back.basis["photos"] == "test"
    assert back.sure("given box", mode.sure_from) and not back.sure("given box", np.nextafter(mode.sure_from, 0))
    path.write_text(json.dumps({"pools": {}}))
    with pytest.raises(ModelError, match="pipelines.calibrate"):
        calibration.read(path)
    assert calibration.read(tmp_path / "none.json") is None


def test_the_shipped_calibration_was_fitted_on_validation_photos_only():
    cal = calibration.read()
    assert cal is not None
    assert "validation" in cal.basis["photos"] and "test photo" not in cal.basis["photos"]
    for mode in calibration.MODES:
        assert 0 < cal.modes[mode].sure_from <= 1


def test_predict_runs_the_full_pipeline_by_default_and_says_why():
    from svhn_api import predict

    img = scene("door")
    full = predict(img)
    assert full.pipeline == "full" and full.chosen_by is not None and full.why
    assert full.candidates and full.candidates[0].source in ("localizer", "search")
    assert {"text-detector", "text-recognizer"} <= set(full.runtime)
    assert any(c.source == "text-detector" for c in full.candidates)
    assert full.box in [c.box for c in full.candidates]
    d = json.loads(json.dumps(full.to_dict()))
    assert d["pipeline"] == "full" and d["candidates"][0]["recognizer"]["digits"] is not None
    boxed = predict(img, boxes=(250.0, 165.0, 70.0, 37.0))       # the "209" of the drawn door
    assert [c.source for c in boxed.candidates] == ["given"] and boxed.box == (250.0, 165.0, 70.0, 37.0)
    assert boxed.number == "209" and boxed.chosen_by in ("agreement", "corroborated")
    fast = predict(img, pipeline="fast")
    assert fast.pipeline == "fast" and fast.candidates == [] and fast.chosen_by is None
    with pytest.raises(ValueError, match="pipeline="):
        predict(img, pipeline="slow")  # type: ignore[call-overload]


def test_without_the_scene_text_models_predict_reads_on_the_fast_path(monkeypatch, tmp_path):
    from svhn_api import predict
    from svhn_api.inference.predict import default_pipeline

    monkeypatch.setenv("SVHN_TEXT_DETECTOR", str(tmp_path / "missing"))
    assert default_pipeline() == "fast"
    assert predict(scene("plate")).pipeline == "fast"
    with pytest.raises(ModelError, match="pipelines.scene_text"):
        predict(scene("plate"), pipeline="full")


def test_read_thorough_reads_the_unsure_photos_again_with_the_full_pipeline(tmp_path):
    from svhn_api.inference.bulk import read_photos

    for name in ("plate", "door", "sign"):
        scene(name).save(tmp_path / f"{name}.png")
    fast = read_photos([tmp_path], tmp_path / "fast.csv", progress=False)
    thorough = read_photos([tmp_path], tmp_path / "thorough.jsonl", progress=False, thorough=True)
    assert fast.pipeline == "fast" and fast.rechecked == 0 and "text-detector" not in fast.runtime
    rows = [json.loads(line) for line in (tmp_path / "thorough.jsonl").read_text().splitlines()]
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows) and len(rows) == 3
    assert set(rows[0]) == {"path", "number", "confidence", "unsure", "box", "error", "pipeline"}
    assert thorough.pipeline == "thorough" and sum(r["pipeline"] == "full" for r in rows) == thorough.rechecked
    unsure_fast = sum(line.split(",")[3] == "True" for line in (tmp_path / "fast.csv").read_text().splitlines()[1:])
    assert thorough.rechecked == unsure_fast
    if thorough.rechecked:
        assert "text-detector" in thorough.runtime
