"""``pip install .`` (not editable) gives a working package from any folder: the wheel holds every module, the
shipped model (without its training leftovers) and the renderer's data, and runs without the checkout.

The wheel is built offline from a copy of the sources (so no build files land in the checkout) and installed
with ``--no-deps`` into a fresh virtual environment that sees the dependencies already installed for the
interpreter running the tests (a ``.pth`` file naming its site-packages: ``--system-site-packages`` would see
the base interpreter's instead when the tests run inside a virtualenv). The checkout itself is installed
editable there, so every command runs from another folder and the test checks that ``svhn_api`` is imported
from the venv's copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

from svhn_api.backend import NOISE
from tests.conftest import draw_number

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SVHN_")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    # artifacts/ as it is, logs and checkpoints included: pyproject.toml must leave them out of the wheel
    for name in ("svhn_api", "artifacts"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
               "-w", tmp_path / "dist", src], cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = (tmp_path / "dist").glob("svhn_reader-*.whl")
    return wheel


def test_the_wheel_installs_and_reads_a_photo_outside_the_checkout(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "svhn_api").rglob("*.py")}
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)}"
    shipped = {n for n in names if n.startswith("svhn_api/artifacts/")}
    assert "svhn_api/artifacts/models/compact/model.keras" in shipped
    assert "svhn_api/artifacts/models/compact/card.json" in shipped
    assert "svhn_api/artifacts/models/compact/model.onnx" in shipped
    assert all(n.endswith(("/model.keras", "/model.onnx", "/card.json", "/text-recognizer/characters.txt",
                           "/models/calibration.json")) or re.search(r"/LICENSE-[\w.-]+\.txt$", n)
               for n in shipped), sorted(shipped)   # no logs, checkpoints; a pretrained model's license notice
    assert "svhn_api/artifacts/models/digits/LICENSE-ccexam.txt" in shipped
    for kind in ("text-detector", "text-recognizer"):   # the full pipeline's pretrained models and its calibration
        assert {f"svhn_api/artifacts/models/{kind}/{f}" for f in ("model.onnx", "card.json", "LICENSE-PaddleOCR.txt")} \
            <= shipped
    assert {"svhn_api/artifacts/models/text-recognizer/characters.txt",
            "svhn_api/artifacts/models/calibration.json"} <= shipped
    assert "svhn_api/synthetic/stats.json" in names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    required = {m.group(1).lower() for m in re.finditer(r"^Requires-Dist: ([A-Za-z0-9_.-]+)(?!.*extra ==)", metadata,
                                                          re.M)}
    assert {"onnxruntime", "numpy", "h5py", "pillow", "font-roboto"} <= required   # reading: no TensorFlow
    assert not {"keras", "tensorflow", "tensorflow-cpu"} & required
    train = {m.group(1).lower() for m in re.finditer(r"^Requires-Dist: ([A-Za-z0-9_.-]+).*extra == .train.", metadata,
                                                       re.M)}
    assert {"keras", "tensorflow-cpu", "tf2onnx"} <= train

    venv = tmp_path / "venv"
    out = run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    out = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # the dependencies: this interpreter's site-packages as plain path entries (their .pth files, the
    # checkout's editable hook among them, are not run)
    here = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (Path(out.stdout.strip()) / "dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(here)))
    out = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
               "--ignore-installed", wheel], cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run([python, "-c", "import svhn_api; from svhn_api import paths; "
               "print(svhn_api.__file__, paths.default_model(), paths.CHECKOUT, sep='\\n')"], cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    module, model, checkout = out.stdout.splitlines()
    assert Path(module).resolve().is_relative_to(venv.resolve()), f"imported from {module}, not the venv"
    assert Path(model).resolve().is_relative_to(venv.resolve()) and (Path(model) / "model.keras").is_file()
    assert checkout == "None"

    img, _ = draw_number("258", np.random.default_rng(3))
    img.save(elsewhere / "house.png")
    out = run([python, "-m", "svhn_api", "predict", "house.png"], cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    # without --box the shipped localizer finds the number: "found at left,top,width,height"
    # the full pipeline (the scene-text models ship in the wheel): its calibrated confidence, sure or not, and why
    reading = r"house\.png: \d{1,5}  \(confidence \d{1,3}\.\d%, (sure|UNSURE); [a-z]+: .*\)"
    assert re.fullmatch(reading + r"  found at [\d.]+(,[\d.]+){3}\n",
                        out.stdout), out.stdout
    noise = [line for line in out.stderr.splitlines() if NOISE.search(line.encode())]
    assert not noise and "Traceback" not in out.stderr, out.stderr

    out = run([bin_dir / "svhn", "--help"], cwd=elsewhere)
    assert out.returncode == 0 and out.stdout.startswith("usage: svhn [-h] command"), out.stdout + out.stderr
