"""ONNX siblings and the runtime choice: an export is checked equal and recorded, a stale one is never used,
the shipped models read alike on both runtimes, and reading needs neither Keras nor TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from svhn_api import paths
from svhn_api.errors import ModelError
from svhn_api.models import card as cards
from svhn_api.models import io as model_io
from svhn_api.models import provenance, runtime
from tests.conftest import draw_number

pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("compact", "localizer", "digits")


def _exported(tmp_path: Path) -> Path:
    pytest.importorskip("tf2onnx")
    from svhn_api.models import architectures

    net = architectures.build("localizer")
    folder = tmp_path / "loc"
    model_io.save(net, folder)
    cards.write(folder, cards.ModelCard(name="loc"))
    runtime.export(folder, real=tmp_path / "no-real-material")
    return folder


def test_an_export_is_checked_equal_recorded_and_used(tmp_path, monkeypatch):
    monkeypatch.delenv(runtime.ENV, raising=False)
    folder = _exported(tmp_path)
    record = cards.read(folder).onnx
    assert record["max_difference"] <= runtime.TOLERANCE
    assert record["keras_sha256"] == provenance.sha256(folder / "model.keras")
    assert record["checked_on"] == {"random pixels": 16, "flat images (0, 128, 255)": 3, "synthetic photos": 16}
    onnx, keras = model_io.load(folder), model_io.load(folder, runtime="keras")
    assert (onnx.runtime, keras.runtime) == ("onnxruntime", "keras") and onnx.keras_model is None
    assert (onnx.task, onnx.input_shape, onnx.output_shape) == (keras.task, keras.input_shape, keras.output_shape)
    x = np.random.default_rng(5).integers(0, 256, (70, *onnx.input_shape), dtype=np.uint8)   # > one ONNX batch
    np.testing.assert_allclose(onnx.run(x), keras.run(x), atol=runtime.TOLERANCE)


def test_a_stale_sibling_is_never_used(tmp_path, monkeypatch):
    folder = _exported(tmp_path)
    from svhn_api.models import architectures

    model_io.save(architectures.build("compact"), folder)   # retrained: model.keras changed, model.onnx did not
    monkeypatch.setenv(runtime.ENV, "auto")
    assert model_io.load(folder).runtime == "keras"
    monkeypatch.setenv(runtime.ENV, "onnx")
    with pytest.raises(ModelError, match=r"model\.keras changed since model\.onnx was exported .*svhn export"):
        model_io.load(folder)
    (folder / "model.onnx").unlink()
    with pytest.raises(ModelError, match="has no model.onnx"):
        model_io.load(folder)
    monkeypatch.setenv(runtime.ENV, "fastest")
    with pytest.raises(ModelError, match=r"SVHN_RUNTIME='fastest': choose one of auto, onnx, keras"):
        model_io.load(folder)


def test_a_tampered_sibling_is_not_used(tmp_path, monkeypatch):
    folder = _exported(tmp_path)
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    monkeypatch.setenv(runtime.ENV, "auto")
    assert model_io.load(folder).runtime == "keras"


def test_export_without_its_tools_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tf2onnx" else real_find(name, *a))
    with pytest.raises(ModelError, match=r"needs tf2onnx \(pip install 'svhn-reader\[train\]'\)"):
        runtime.export(tmp_path)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_models_have_a_current_checked_sibling(name):
    folder = paths.shipped_models_dir() / name
    card = cards.read(folder)
    assert runtime.stale_reason(folder, card) is None
    assert card.onnx["max_difference"] <= runtime.TOLERANCE and "synthetic photos" in card.onnx["checked_on"]


def test_the_same_photos_read_alike_on_both_runtimes(monkeypatch):
    """Whole photos (localizer, search, digit classifier): the same numbers, boxes and confidences."""
    from svhn_api import predict

    rng = np.random.default_rng(11)
    photos = [draw_number(n, rng)[0] for n in ("7", "42", "315", "2026", "88", "109")]
    got = {}
    for choice in ("keras", "onnx"):
        monkeypatch.setenv(runtime.ENV, choice)
        got[choice] = predict(photos)
    for k, o in zip(got["keras"], got["onnx"], strict=True):
        assert k.number == o.number and k.located == o.located
        np.testing.assert_allclose(k.box, o.box, atol=0.05)
        assert abs(k.confidence - o.confidence) <= 1e-3
        np.testing.assert_allclose(k.probabilities, o.probabilities, atol=1e-3)


def test_reading_needs_neither_keras_nor_tensorflow(tmp_path):
    """With Keras, TensorFlow and JAX unimportable, the CLI reads a photo with the shipped models."""
    img, _ = draw_number("461", np.random.default_rng(4))
    img.save(tmp_path / "house.png")
    blocker = tmp_path / "block" / "sitecustomize.py"
    blocker.parent.mkdir()
    blocker.write_text("import sys\nfor m in ('keras', 'tensorflow', 'jax', 'tf2onnx'):\n    sys.modules[m] = None\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SVHN_")},
           "PYTHONPATH": os.pathsep.join([str(blocker.parent), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "svhn_api", "predict", str(tmp_path / "house.png"), "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (result,) = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["number"]
    assert result["runtime"] == {"reader": "onnxruntime", "localizer": "onnxruntime", "digits": "onnxruntime",
                                 "text-detector": "onnxruntime", "text-recognizer": "onnxruntime"}
    assert result["pipeline"] == "full"
