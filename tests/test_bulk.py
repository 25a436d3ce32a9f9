"""Bulk reading (``svhn_api.inference.bulk``, ``python -m svhn_api read``): folders, globs, archives and bad
inputs in, one row per photo out, the same readings as ``predict``, resumable after an interruption."""

from __future__ import annotations

import csv
import io
import json
import tarfile

import numpy as np
import pytest

from svhn_api.errors import SVHNError
from tests.conftest import draw_number

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from svhn_api.models import architectures
    from svhn_api.models import io as model_io

    folder = tmp_path_factory.mktemp("models") / "reader"
    model_io.save(architectures.build("compact"), folder)
    return folder


def _png(number: str, seed: int) -> bytes:
    img, _ = draw_number(number, np.random.default_rng(seed))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "photos" / "street"
    folder.mkdir(parents=True)
    for i in range(5):
        (folder / f"{i}.png").write_bytes(_png(str(10 + i), i))
    (folder / "notes.png").write_text("not an image")
    (folder / "readme.txt").write_text("skipped: not an image name")
    loose = tmp_path / "loose"
    loose.mkdir()
    for i in range(3):
        (loose / f"house{i}.png").write_bytes(_png(str(200 + i), 10 + i))
    _tar(tmp_path / "batch.tar.gz", {"set/a.png": _png("7", 20), "set/b.png": _png("81", 21), "set/x.txt": b"x"})
    return [str(tmp_path / "photos"), str(loose / "house*.png"), str(tmp_path / "batch.tar.gz"),
            str(tmp_path / "missing.png")]


def _rows(path):
    return list(csv.DictReader(open(path, newline="")))


def test_every_kind_of_input_gives_one_row_the_same_as_predict(inputs, tmp_path, model_folder):
    from svhn_api.inference.bulk import read_photos
    from svhn_api.inference.predict import predict

    out = tmp_path / "results.csv"
    summary = read_photos(inputs, out, model=model_folder, localizer=False, batch_size=4, progress=False)
    rows = _rows(out)
    names = [r["path"] for r in rows]
    assert names[:6] == [str(tmp_path / "photos" / "street" / n) for n in ("0.png", "1.png", "2.png", "3.png",
                                                                           "4.png", "notes.png")]
    assert names[6:9] == [str(tmp_path / "loose" / f"house{i}.png") for i in range(3)]
    assert names[9:11] == [f"{tmp_path / 'batch.tar.gz'}:set/a.png", f"{tmp_path / 'batch.tar.gz'}:set/b.png"]
    assert names[11] == str(tmp_path / "missing.png") and len(rows) == 12
    assert (summary.read, summary.failed, summary.skipped) == (12, 2, 0)
    assert "not a readable image" in rows[5]["error"] and "no such file" in rows[11]["error"]
    photos = [tmp_path / "photos" / "street" / f"{i}.png" for i in range(5)]
    expected = predict(photos, model=model_folder, localizer=False, pipeline="fast")   # read's default speed
    assert [r["number"] for r in rows[:5]] == [p.number for p in expected]
    assert [float(r["confidence"]) for r in rows[:5]] == pytest.approx([p.confidence for p in expected], abs=1e-5)


def test_a_rerun_resumes_and_redoes_a_row_cut_by_an_interruption(inputs, tmp_path, model_folder):
    from svhn_api.inference.bulk import read_photos

    out = tmp_path / "results.jsonl"
    read_photos(inputs[:2], out, model=model_folder, localizer=False, batch_size=3, progress=False)
    lines = out.read_text().splitlines()
    assert len(lines) == 9 and all(json.loads(x)["path"] for x in lines)
    out.write_text("\n".join(lines[:7]) + "\n" + lines[7][:15])   # killed while writing row 8
    summary = read_photos(inputs, out, model=model_folder, localizer=False, batch_size=3, progress=False)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert summary.skipped == 7 and summary.read == 5
    assert len(rows) == 12 and len({r["path"] for r in rows}) == 12
    assert set(rows[0]) == {"path", "number", "confidence", "unsure", "box", "error", "pipeline"}


def test_with_the_localizer_each_row_has_the_box_it_found(tmp_path, model_folder):
    from svhn_api.inference.bulk import read_photos
    from svhn_api.models import architectures
    from svhn_api.models import io as model_io

    finder = tmp_path / "localizer"
    model_io.save(architectures.build("localizer"), finder)
    photo = tmp_path / "p.png"
    photo.write_bytes(_png("42", 3))
    out = tmp_path / "r.jsonl"
    read_photos([photo], out, model=model_folder, localizer=finder, progress=False)
    [row] = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["error"] is None and len(row["box"]) == 4 and isinstance(row["unsure"], bool)


def test_a_malicious_archive_is_refused_and_a_foreign_file_is_not_overwritten(tmp_path, model_folder):
    from svhn_api.inference.bulk import read_photos

    evil = tmp_path / "evil.tar.gz"
    _tar(evil, {"../escape.png": _png("1", 0)})
    summary = read_photos([evil], tmp_path / "r.csv", model=model_folder, localizer=False, progress=False)
    [row] = _rows(tmp_path / "r.csv")
    assert (summary.read, summary.failed) == (1, 1) and row["path"] == str(evil)
    assert row["error"].startswith(f"{evil}: refusing member '../escape.png': it has a '..' path component")
    for name, text in (("notes.jsonl", "my own notes\n"), ("notes.csv", "a,b\n1,2\nno newline at the end")):
        foreign = tmp_path / name
        foreign.write_text(text)
        with pytest.raises(SVHNError, match="not a results file of `read`"):
            read_photos([tmp_path], foreign, model=model_folder, localizer=False, progress=False)
        assert foreign.read_text() == text   # untouched
    header_only = tmp_path / "started.csv"      # killed before its first batch was written
    header_only.write_text(",".join(("path", "number", "confidence", "unsure", "box", "error")) + "\n")
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.png").write_bytes(_png("5", 1))
    assert read_photos([one], header_only, model=model_folder, localizer=False, progress=False).read == 1


def test_cli_read_reports_and_exits_non_zero_when_some_failed(inputs, tmp_path, model_folder, capsys):
    from svhn_api.cli import main

    out = tmp_path / "cli.csv"
    assert main(["read", *inputs, "--out", str(out), "--model", str(model_folder), "--whole-image", "--json"]) == 1
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["read"] == 12 and report["failed"] == 2
    assert main(["read", inputs[0], "--out", str(out), "--model", str(model_folder), "--whole-image"]) == 0
    assert "6 already there, skipped" in capsys.readouterr().out


def test_read_without_the_digit_classifier_gives_the_readers_own_readings(inputs, tmp_path, model_folder):
    from svhn_api.cli import main
    from svhn_api.inference.predict import predict

    out = tmp_path / "alone.csv"
    assert main(["read", str(tmp_path / "photos" / "street"), "--out", str(out), "--model", str(model_folder),
                 "--whole-image", "--no-digits", "--json"]) == 1        # notes.png is no image
    rows = [r for r in _rows(out) if not r["error"]]
    photos = [tmp_path / "photos" / "street" / f"{i}.png" for i in range(5)]
    alone = predict(photos, model=model_folder, localizer=False, digits=False, pipeline="fast")
    assert [r["number"] for r in rows] == [p.number for p in alone]
    assert [float(r["confidence"]) for r in rows] == pytest.approx([p.confidence for p in alone], abs=1e-5)


def test_a_damaged_or_refused_archive_is_one_error_row_and_the_other_inputs_are_read(tmp_path, model_folder):
    """A truncated, a corrupt and a malicious archive in a batch: each is a row naming it, with advice for a batch
    (not `prepare`'s "re-download it"); the photos before the fault and every other input are read."""
    from svhn_api.inference.bulk import read_photos

    big = {f"set/{i}.png": _png(str(100 + i), i) + bytes(30_000) for i in range(4)}   # room to cut in the middle
    _tar(tmp_path / "whole.tar.gz", big)
    whole = (tmp_path / "whole.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[:len(whole) * 3 // 4])
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a gzip stream")
    evil = tmp_path / "evil.tar.gz"
    _tar(evil, {"ok.png": _png("5", 1), "../evil.png": _png("6", 2), "after.png": _png("7", 3)})
    photo = tmp_path / "house.png"
    photo.write_bytes(_png("42", 4))
    out = tmp_path / "r.csv"
    summary = read_photos([cut, junk, evil, photo], out, model=model_folder, localizer=False, progress=False)
    rows = {r["path"]: r for r in _rows(out)}
    members = [p for p in rows if p.startswith(f"{cut}:")]
    assert 1 <= len(members) < 4 and all(not rows[p]["error"] for p in members)   # those before the cut: read
    assert not rows[f"{evil}:ok.png"]["error"] and f"{evil}:after.png" not in rows
    assert not rows[str(photo)]["error"] and rows[str(photo)]["number"]
    assert rows[str(cut)]["error"].startswith(f"{cut}: corrupt or truncated")
    assert rows[str(junk)]["error"].startswith(f"{junk}: corrupt or truncated")
    assert rows[str(evil)]["error"].startswith(f"{evil}: refusing member '../evil.png'")
    for archive in (cut, junk, evil):
        error = rows[str(archive)]["error"]
        assert "prepare" not in error and "download" not in error and "SVHN" not in error, error
        assert "repair or re-create the archive" in error and "run the same command again" in error, error
    assert summary.failed == 3 and summary.read == len(rows) == len(members) + 5
    again = read_photos([cut, junk, evil, photo], out, model=model_folder, localizer=False, progress=False)
    assert (again.read, again.skipped) == (0, len(rows))   # a rerun doubles nothing


def test_cli_read_says_which_inputs_named_no_photo(tmp_path, model_folder, capsys):
    from svhn_api.cli import main

    photo = tmp_path / "house.png"
    photo.write_bytes(_png("42", 4))
    (tmp_path / "empty").mkdir()
    out = tmp_path / "r.csv"
    argv = ["read", str(photo), str(tmp_path / "empty"), str(tmp_path / "gone"), "--out", str(out), "--model",
            str(model_folder), "--whole-image"]
    for _ in range(2):   # and the same on a rerun, when nothing is left to read
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert f"warning: {tmp_path / 'empty'}: a folder without photos (read looks for .png" in captured.err
        assert f"warning: {tmp_path / 'gone'}: not found (no such file or folder)" in captured.err
    assert main(["read", str(photo), "--out", str(tmp_path / "one.csv"), "--model", str(model_folder),
                 "--whole-image"]) == 0
    assert capsys.readouterr().out.startswith(f"1 photo read into {tmp_path / 'one.csv'} in ")


def test_rows_say_which_pipeline_read_them_and_an_earlier_results_file_resumes_in_its_columns(tmp_path):
    """``read --thorough`` mixes the fast path's rows with the full pipeline's, whose confidence is another
    figure: each row says which; a CSV begun before the ``pipeline`` column goes on without it."""
    from svhn_api.inference.bulk import EARLIER_FIELDS, FIELDS, read_photos
    from tests.scene_text_fixtures import scene

    for name in ("plate", "door"):
        scene(name).save(tmp_path / f"{name}.png")
    read_photos([tmp_path / "plate.png", tmp_path / "door.png"], tmp_path / "new.csv", progress=False, thorough=True)
    rows = _rows(tmp_path / "new.csv")
    assert tuple(rows[0]) == FIELDS and {r["pipeline"] for r in rows} <= {"fast", "full"}
    earlier = tmp_path / "earlier.csv"
    earlier.write_text(",".join(EARLIER_FIELDS) + f"\n{tmp_path / 'plate.png'},1,0.9,False,,\n")
    summary = read_photos([tmp_path / "plate.png", tmp_path / "door.png"], earlier, progress=False)
    assert (summary.read, summary.skipped) == (1, 1)
    rows = _rows(earlier)
    assert tuple(rows[0]) == EARLIER_FIELDS and len(rows) == 2 and rows[1]["path"] == str(tmp_path / "door.png")


@pytest.mark.parametrize(("count", "size", "parts", "sizes"), [
    (1000, 256, 2, [256, 256, 244, 244]), (130, 256, 2, [65, 65]), (5, 256, 4, [2, 2, 1]),
    (512, 256, 2, [256, 256]), (0, 64, 2, []), (7, 3, 1, [3, 3, 1])])
def test_photos_go_in_order_in_batches_that_keep_every_core_busy(count, size, parts, sizes):
    from svhn_api.inference.bulk import Photo, batches

    photos = [Photo(str(i), b"") for i in range(count)]
    got = list(batches(iter(photos), size, parts))
    assert [len(b) for b in got] == sizes
    assert [p for b in got for p in b] == photos


def test_reading_across_processes_writes_the_rows_threads_write(inputs, tmp_path, model_folder, monkeypatch):
    """The same rows in the same order, whichever reads them; the workers take the caller's ``$SVHN_*``."""
    from svhn_api.inference.bulk import read_photos

    monkeypatch.setenv("SVHN_DIGITS", "/nonexistent")     # no digit classifier: the workers must see it too
    rows = {}
    for processes in (False, True):
        out = tmp_path / f"{processes}.csv"
        read_photos(inputs, out, model=model_folder, batch_size=2, progress=False, processes=processes)
        rows[processes] = _rows(out)
    assert rows[True] == rows[False] and len(rows[True]) == 12
    monkeypatch.delenv("SVHN_DIGITS")
    read_photos(inputs, tmp_path / "digits.csv", model=model_folder, batch_size=2, progress=False, processes=True)
    assert [r["number"] for r in _rows(tmp_path / "digits.csv")] != [r["number"] for r in rows[True]]
