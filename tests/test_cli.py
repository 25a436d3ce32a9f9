import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_import_does_not_load_tensorflow():
    code = "import sys, svhn_api; print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_public_functions_stay_functions_after_their_modules_are_imported():
    import svhn_api
    import svhn_api.data.prepare  # noqa: F401
    import svhn_api.inference.evaluate  # noqa: F401
    import svhn_api.inference.predict  # noqa: F401
    import svhn_api.training.train  # noqa: F401

    for name in ("prepare", "synth", "train", "evaluate", "predict", "read_digitstruct"):
        assert callable(getattr(svhn_api, name)) and not isinstance(getattr(svhn_api, name), type(svhn_api))


@pytest.mark.parametrize("command", ["prepare", "synth", "train", "evaluate", "predict"])
def test_every_command_has_help(command):
    out = subprocess.run([sys.executable, "-m", "svhn_api", command, "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "usage: python -m svhn_api " + command in out.stdout


def test_bad_arguments_are_errors_not_tracebacks(tmp_path):
    out = subprocess.run([sys.executable, "-m", "svhn_api", "prepare", "--archives", str(tmp_path), "--splits",
                          "train,bogus", "--no-download"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "error: splits" in out.stderr and "Traceback" not in out.stderr


def test_capstone_names_and_their_old_alias_seed():
    from svhn_api.cli import build_parser
    from svhn_api.models.kinds import ARCHITECTURES

    parse = build_parser().parse_args
    assert parse(["prepare", "--crop", "capstone"]).crop == "capstone"
    assert {parse(["train", "--data", "s.h5", "--model", m]).model for m in ARCHITECTURES} == set(ARCHITECTURES)
    for argv in (["prepare", "--crop", "strip"], ["train", "--data", "s.h5", "--model", "big"],
                 ["prepare", "--crop", "seed"], ["train", "--data", "s.h5", "--model", "seed"]):   # pre-0.2 names
        with pytest.raises(SystemExit):
            parse(argv)


# ------------------------------------------------------------------ checks before TensorFlow, quiet start-up

HEAVY = ("tensorflow", "keras", "jax", "torch")
RUN_MAIN = ("import sys; from svhn_api.cli import main; rc = main(sys.argv[1:]); "
            f"print(rc, sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")


@pytest.mark.parametrize(("argv", "message"), [
    (["predict", "missing.png"], "error: missing.png: no such file; give an image file (PNG, JPEG, ...)"),
    (["predict", "."], "error: .: a folder, not an image file; give an image file (PNG, JPEG, ...)"),
    (["predict", "text.png"], "error: text.png: not a readable image (not in any known image format); give a PNG"),
    (["predict", "empty.png"], "error: empty.png: the file is empty; give a PNG or JPEG photo"),
    (["predict", "empty.png", "missing.png", "text.png", "--box", "1,1,4,4"],
     "error: empty.png: the file is empty; give a PNG or JPEG photo\nerror: missing.png: no such file"),
    (["predict", "house.png", "--model", "no-model"], "error: no-model: no such model; give a model folder"),
    (["predict", "house.png", "--model", "house.png"], "error: house.png: not a .keras model file"),
    (["evaluate", "--data", "missing.h5"], "error: missing.h5: no such file; give the .h5 file that `prepare`"),
    (["evaluate", "--data", "s.h5", "--model", "no-model"], "error: no-model: no such model"),
    (["train", "--data", "missing.h5"], "error: missing.h5: no such file; give the .h5 file"),
    (["train", "--data", "."], "error: .: a folder, not a prepared store; give the .h5 file"),
    (["train", "--data", "text.png"], "error: text.png: not a readable HDF5 store"),
    (["evaluate", "--data", "empty.png"], "error: empty.png: not a readable HDF5 store"),
])
def test_bad_inputs_are_reported_before_any_backend_is_imported(tmp_path, argv, message):
    """A wrong path is answered at once (a fraction of a second, benchmarks/bench_cli.py): nothing heavy is
    imported before the inputs are checked."""
    from PIL import Image

    from tests.conftest import make_store

    Image.new("RGB", (8, 8)).save(tmp_path / "house.png")
    (tmp_path / "text.png").write_text("not an image: a text file named .png\n")
    (tmp_path / "empty.png").write_bytes(b"")
    make_store(tmp_path / "s.h5", {"test": 1})
    out = subprocess.run([sys.executable, "-c", RUN_MAIN, *argv], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert out.stdout.strip() == "2 []", out.stdout + out.stderr
    assert out.stderr.startswith(message) and "Traceback" not in out.stderr, out.stderr


ROOT = Path(__file__).resolve().parents[1]
RESULTS_HEADER = "path,number,confidence,unsure,box,error\n"
FOREIGN = {"notes.csv": "name,phone\nAda,555\n", "notes.jsonl": "my own notes, no newline at the end"}
NOT_OURS = ("not a results file of `read` ({}); it is left as it is: give --out a new file name (.csv or .jsonl), "
            "e.g. {}")
NOTHING = "error: nothing to read: {}. Give photo files (PNG, JPEG), folders holding them, glob patterns"


@pytest.mark.parametrize(("argv", "status", "output"), [
    (["read", "house.png", "--out", "done.csv"], 0, "0 photos read into done.csv"),   # nothing left to do
    (["read", "missing.png", "text.png", "--out", "new.csv"], 1, "2 photos read into new.csv"),   # all bad: rows
    (["read", "house.png", "--out", "notes.csv"], 2, "error: notes.csv: " + NOT_OURS.format(
        "its columns are name, phone; the results of `read` have path, number, confidence, unsure, box, error, "
        "pipeline",
        "results.csv")),
    (["read", "house.png", "--out", "notes.jsonl"], 2, "error: notes.jsonl: " + NOT_OURS.format(
        "its only line is not a row of `read`", "results.csv")),
    (["read", "house.png", "--out", "house.png"], 2, "error: house.png: --out names a photo, not a results file, "
     "left as it is; give --out a .csv or .jsonl file, e.g. results.csv"),
    (["read", "house.png", "--out", "house.dat"], 2, "error: house.dat: " + NOT_OURS.format(
        "it is not a text file", "results.csv")),   # a photo by its bytes: not dumped, not to be deleted
    (["read", "nophotos", "--out", "new.csv"], 2, NOTHING.format(
        "nophotos: a folder without photos (read looks for .png, .jpg, .jpeg files in it and its subfolders; "
        "name a .tar.gz archive itself to read it)")),
    (["read", "/nonexistent/", "no*.png", "--out", "new.csv"], 2, NOTHING.format(
        "/nonexistent/: not found (no such file or folder); no*.png: matches no file")),
])
def test_read_loads_no_backend_without_a_readable_photo_to_read(tmp_path, argv, status, output):
    """Nothing to read, nothing readable, or a --out file that `read` did not write (refused, untouched): answered
    without Keras."""
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "house.png")
    (tmp_path / "text.png").write_text("not an image\n")
    (tmp_path / "done.csv").write_text(RESULTS_HEADER + "house.png,1,0.9,False,,\n")
    for name, text in FOREIGN.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "house.dat").write_bytes((tmp_path / "house.png").read_bytes())
    (tmp_path / "nophotos" / "sub").mkdir(parents=True)
    (tmp_path / "nophotos" / "sub" / "notes.txt").write_text("no photo")
    photo = (tmp_path / "house.png").read_bytes()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.keras").write_bytes(b"never loaded")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", RUN_MAIN, *argv, "--model", "m"], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env=env)
    *printed, last = out.stdout.strip().splitlines() or [""]
    assert last == f"{status} []", out.stdout + out.stderr
    assert output in "\n".join(printed) + out.stderr and "Traceback" not in out.stderr, out.stdout + out.stderr
    assert "\\x" not in out.stderr and "delete" not in out.stderr, out.stderr   # no bytes shown, nothing to delete
    assert {name: (tmp_path / name).read_text() for name in FOREIGN} == FOREIGN
    assert (tmp_path / "house.png").read_bytes() == photo and (tmp_path / "house.dat").read_bytes() == photo
    assert status != 2 or not (tmp_path / "new.csv").exists()   # refused: no header-only results file left


def test_a_box_may_start_left_of_or_above_the_image(tmp_path, capsys):
    """``--box -5,-5,10,10`` is a value, not an option (argparse alone refuses it)."""
    from svhn_api.cli import build_parser, main

    missing = str(tmp_path / "missing.png")
    assert main(["predict", missing, "--box", "-5,-5,10,10"]) == 2   # parsed; then the missing file is reported
    assert capsys.readouterr().err.startswith(f"error: {missing}: no such file")
    assert main(["predict", "--box", "-5.5,0,10,10", missing, "--json"]) == 2
    capsys.readouterr()
    parse = build_parser("svhn").parse_args
    assert parse(["predict", "a.png", "--box=-5,-5,10,10"]).box == (-5.0, -5.0, 10.0, 10.0)
    for box, message in (("1,2,3", "'1,2,3' has 3 numbers; give 4 numbers left,top,width,height"),
                         ("nan,1,2,3", "'nan,1,2,3' holds a value that is not a finite number (NaN or infinity)"),
                         ("1,2,0,3", "'1,2,0,3' must have a width and height greater than 0"),
                         ("a,b,c,d", "'a,b,c,d' is not 4 numbers; give 4 numbers left,top,width,height")):
        with pytest.raises(SystemExit):
            parse(["predict", "a.png", "--box", box])
        assert f"argument --box: {message}" in capsys.readouterr().err


def test_prepare_offline_prints_no_empty_bars_and_names_the_commands(tmp_path, monkeypatch, capsys):
    import socket
    import urllib.error

    from svhn_api.cli import main
    from svhn_api.data import download

    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(download, "_fetch_once", offline)
    assert main(["prepare", "--archives", str(tmp_path), "--splits", "test"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Missing SVHN archive test.tar.gz in "), err   # no progress bar before it
    assert "%" not in err and "put it in" in err and "under exactly this name" in err
    assert "the `prepare --source synthetic` command" in err and "`synth --out DIR`" in err
    assert main(["prepare", "--archives", str(tmp_path), "--splits", "train,test"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Missing SVHN archives train.tar.gz, test.tar.gz in ") and "put them in" in err


def test_usage_names_the_command_as_it_was_invoked():
    code = "import sys; sys.argv[0] = {!r}; from svhn_api.cli import main; main(['--help'])"
    for argv0, prog in (("/usr/local/bin/svhn", "svhn"), ("/x/svhn_api/__main__.py", "python -m svhn_api")):
        out = subprocess.run([sys.executable, "-c", code.format(argv0)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith(f"usage: {prog} [-h] command"), out.stdout
        assert "``" not in out.stdout and "$SVHN_RUNS" in out.stdout


def test_every_option_has_a_help_text():
    from svhn_api.cli import build_parser

    parser = build_parser("svhn")
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest}"


def test_train_fresh_and_runs_folder(tmp_path, monkeypatch, capsys):
    import types

    from svhn_api import cli
    from svhn_api.training.settings import TrainResult
    from tests.conftest import make_store

    calls = []
    fake = types.ModuleType("svhn_api.training.train")
    made = TrainResult("runs/compact", "runs/compact/model.keras", "runs/compact/card.json", "compact", "complete", 1,
                       3, 1.0, 0.5, 1, False, None)
    fake.train = lambda **kw: calls.append(kw) or made
    monkeypatch.setitem(sys.modules, "svhn_api.training.train", fake)
    monkeypatch.setattr(cli, "_load_backend", lambda: None)
    make_store(tmp_path / "s.h5", {"train": 2})
    assert cli.main(["train", "--data", str(tmp_path / "s.h5"), "--fresh", "--json"]) == 0
    assert cli.main(["train", "--data", str(tmp_path / "s.h5"), "--json"]) == 0
    assert [c["fresh"] for c in calls] == [True, False]
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["folder"] == "runs/compact"
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "runs/<name>" in capsys.readouterr().out


def test_start_up_noise_is_dropped_and_everything_else_passes_through():
    code = """if True:
        import os, sys
        from svhn_api.backend import filtered_stderr
        with filtered_stderr():
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
            os.write(2, b"I0000 00:00:1.0 1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...\\n"
                        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
                        b"with the appropriate compiler flags.\\n")
            os.write(2, b"E0000 cuda_dnn.cc:1] Unable to register cuDNN factory: Attempting to register\\n")
            os.write(2, b"a real warning\\n")
            print("from python", file=sys.stderr)
            os.write(2, b"no newline at the end")
        print(" | after", file=sys.stderr)
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "a real warning\nfrom python\nno newline at the end | after\n"


@pytest.mark.slow
def test_importing_keras_through_the_backend_prints_nothing():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = ("import os; from svhn_api.backend import import_keras; k = import_keras(); "
            "print(k.backend.backend(), os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.split()[1:] == ["2", "None"]


@pytest.mark.slow
def test_every_module_imports_without_posix_only_modules():
    """``import svhn_api`` and each of its modules work on every OS: none of them imports ``fcntl`` (or another
    POSIX-only module) at import time. Simulated here by making those imports fail when ``svhn_api`` asks for
    them (the standard library's own, e.g. ``shutil``'s ``import posix``, are its business: it guards them)."""
    code = """if True:
        import builtins, importlib, pkgutil
        real_import = builtins.__import__

        def no_posix(name, globals=None, *args, **kw):
            ours = (globals or {}).get("__name__", "").split(".")[0] == "svhn_api"
            if ours and name.split(".")[0] in ("fcntl", "termios", "pwd", "grp", "resource", "posix"):
                raise ImportError(f"No module named {name!r} (as on Windows)")
            return real_import(name, globals, *args, **kw)

        builtins.__import__ = no_posix
        import svhn_api
        for m in pkgutil.walk_packages(svhn_api.__path__, "svhn_api."):
            if not m.name.endswith("__main__"):
                importlib.import_module(m.name)
        print("ok")
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_default_locations_follow_svhn_data(tmp_path):
    env = {**os.environ, "SVHN_DATA": str(tmp_path / "elsewhere")}
    out = subprocess.run([sys.executable, "-m", "svhn_api", "prepare", "--no-download"], capture_output=True,
                         text=True, timeout=60, env=env, cwd=tmp_path)
    assert out.returncode == 2 and str((tmp_path / "elsewhere" / "archives").resolve()) in out.stderr, out.stderr


def test_onnx_runtime_prints_no_telemetry_warning_where_home_cannot_be_written(tmp_path):
    """ONNX Runtime writes a telemetry device ID under ~/.cache when it is imported, and warns on stderr where it
    cannot ("Failed to persist telemetry device ID"), as in the Docker image: the library turns its telemetry off,
    so a run prints only its reading (``HOME`` is a file here, so nothing can be made under it, even as root)."""
    import numpy as np

    from tests.conftest import draw_number

    img, _ = draw_number("31", np.random.default_rng(0))
    img.save(tmp_path / "31.png")
    (tmp_path / "home").write_text("a file, not a folder: no ~/.cache can be made in it")
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY", "SVHN_MODEL",
                                                            "SVHN_RUNTIME")}
    env["HOME"] = str(tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "svhn_api", "predict", "31.png", "--whole-image", "--json"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout.splitlines()[-1])[0]["runtime"].values()) == {"onnxruntime"}
    assert "telemetry" not in out.stderr and out.stderr == "", out.stderr


def test_predict_exits_2_when_no_photo_could_be_read(tmp_path, capsys):
    """``--box`` outside every photo: nothing read, so the status is 2 (as the README and --help say), not 1."""
    from PIL import Image

    from svhn_api.cli import main

    for name in ("5.png", "6.png"):
        Image.new("RGB", (215, 81), "white").save(tmp_path / name)
    photos = [str(tmp_path / "5.png"), str(tmp_path / "6.png")]
    assert main(["predict", *photos, "--box", "5000,5000,10,10"]) == 2
    err = capsys.readouterr().err
    assert all(f"error: {p}: box (5000, 5000, 10, 10) lies outside the 215x81 image" in err for p in photos), err
    assert main(["predict", *photos, "--box", "5000,5000,10,10", "--json"]) == 2
    assert all(r["error"] for r in json.loads(capsys.readouterr().out.splitlines()[-1]))


def test_a_fast_path_confidence_near_1_is_printed_as_its_distance_from_1():
    """Issue 29: "confidence 1.000 ... UNSURE" told the user nothing; the threshold lies within 1e-7 of 1."""
    from svhn_api.cli import _confidence

    assert _confidence(0.42) == "0.420" and _confidence(1.0) == "1"
    assert _confidence(1 - 3.7e-8) == "1 - 3.7e-08" and _confidence(1 - 5.7e-5) == "1 - 5.7e-05"
