"""The training core: loss, augmentation, schedules, checkpoints, and train() end to end.

Backend-neutral: the same tests run under TensorFlow (the suite) and JAX (``scripts/test.sh`` runs the
model tests again with ``KERAS_BACKEND=jax``).
"""

import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from svhn_api.errors import ModelError  # noqa: E402
from svhn_api.models import architectures as models  # noqa: E402
from svhn_api.models import io as model_io  # noqa: E402
from svhn_api.models import kinds, provenance  # noqa: E402
from svhn_api.training import checkpoint  # noqa: E402
from svhn_api.training.augment import Augment  # noqa: E402
from svhn_api.training.loss import sequence_loss  # noqa: E402
from svhn_api.training.schedule import learning_rate  # noqa: E402
from svhn_api.training.tasks import READ  # noqa: E402
from svhn_api.training.train import make_trainer, train  # noqa: E402

# onnx=False: the export is tested once (tests/test_runtime.py and the first test here), not after every run
FAST = {"model": "compact", "epochs": 2, "batch_size": 32, "limit": 96, "val_limit": 32, "progress": False,
        "onnx": False}
LABELS = np.array([[2, 4, 7, 10, 10, 10], [1, 0, 10, 10, 10, 10]], np.int8)


def _weights(folder):
    return [np.asarray(v) for v in model_io.load(folder / "model.keras", runtime="keras").keras_model.get_weights()]


@pytest.mark.backends
def test_masked_loss_ignores_absent_digits_and_sum_does_not():
    logits = np.random.default_rng(0).normal(size=(2, 6, 11)).astype(np.float32)
    changed = logits.copy()
    changed[0, 3:, 0] += 5.0                    # positions past the first number's length (2)
    changed[1, 2:, 0] += 5.0
    masked = [np.asarray(sequence_loss(LABELS, x, "masked")) for x in (logits, changed)]
    summed = [np.asarray(sequence_loss(LABELS, x, "sum")) for x in (logits, changed)]
    np.testing.assert_allclose(masked[0], masked[1], rtol=1e-6)
    assert np.all(summed[0] != summed[1]) and masked[0].shape == (2,)
    with pytest.raises(ValueError, match="choose one of"):
        sequence_loss(LABELS, logits, "nope")


@pytest.mark.backends
def test_augmentation_is_seeded_uint8_and_only_in_training():
    x = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    a = np.asarray(Augment(seed=1)(x, training=True))
    b = np.asarray(Augment(seed=1)(x, training=True))
    c = np.asarray(Augment(seed=2)(x, training=True))
    assert a.dtype == np.uint8 and a.shape == x.shape
    assert np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(a, x)
    assert np.array_equal(np.asarray(Augment(seed=1)(x, training=False)), x)


def test_learning_rate_schedules():
    r = {name: kinds.recipe(name) for name in kinds.ARCHITECTURES}
    assert learning_rate(r["capstone"], 0.01, 10**6, 1.0) == 0.01
    assert learning_rate(r["deep"], 0.01, 20_000, 0.5) == pytest.approx(0.01 * 0.81)
    cos = [learning_rate(r["compact"], 3e-3, s, s / 1000) for s in (0, 300, 600, 1000)]
    assert cos[0] < cos[1] and cos[1] > cos[2] > cos[3] and cos[3] == pytest.approx(6e-5)


@pytest.mark.parametrize("name,shape", [pytest.param("capstone", (32, 32, 1), marks=pytest.mark.backends),
                                        pytest.param("deep", (64, 64, 3), marks=pytest.mark.slow)])
def test_every_architecture_takes_a_training_step(name, shape):
    net = models.build(name, shape)
    trainer = make_trainer(net, name, "masked", augment=shape[-1] == 3)
    x = np.random.default_rng(0).integers(0, 256, (2, *shape), dtype=np.uint8)
    assert np.isfinite(float(trainer.train_on_batch(x, LABELS)))


@pytest.mark.backends
def test_the_model_learns_a_fixed_batch_and_reads_it_back(tmp_path):
    """A few dozen steps on one batch drive the loss far down, and the production read-out (probabilities
    -> joint decoding) then spells the stored numbers: a label, head or position out of line fails here.
    The capstone net learns this fastest (no batch norm, whose running statistics lag a short run)."""
    from svhn_api.data import store
    from svhn_api.inference.decode import decode_batch
    from svhn_api.labels import row_to_number
    from tests.conftest import make_store

    batch = store.read(make_store(tmp_path / "batch.h5", {"train": 32}, mode="capstone"), "train")
    keras.utils.set_random_seed(0)
    net = models.build("capstone", (32, 32, 1))
    trainer = make_trainer(net, "capstone", augment=False, lr=0.1)
    losses = [float(trainer.train_on_batch(batch["images"], batch["labels"])) for _ in range(60)]
    assert losses[-1] < 0.1 * losses[0], losses[::10]
    rows, _ = decode_batch(model_io.wrap(net).probabilities(batch["images"]))
    read = [row_to_number(r) for r in rows]
    truth = [row_to_number(r) for r in batch["labels"]]
    pairs = list(zip(read, truth, strict=True))
    assert sum(a == b for a, b in pairs) >= 0.9 * len(truth), pairs


@pytest.mark.backends
def test_checkpoint_names_are_structural_and_a_changed_model_is_refused(tmp_path):
    first, second = models.build("compact"), models.build("compact")   # Keras gives the second other names
    assert list(checkpoint.model_names(first)) == list(checkpoint.model_names(second))
    path = tmp_path / checkpoint.FILE
    checkpoint.save(path, {"model": checkpoint.model_names(first)}, {"step": 3})
    checkpoint.load(path, {"model": checkpoint.model_names(second)})
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert checkpoint.read_state(path) == {"step": 3}
    other = models.compact(hidden=64)
    with pytest.raises(ModelError, match="other shape: dense/bias, dense/kernel.*--fresh"):
        checkpoint.load(path, {"model": checkpoint.model_names(other)})
    with pytest.raises(ModelError, match="missing: .*not in this model"):
        checkpoint.load(path, {"model": checkpoint.model_names(models.build("capstone", (32, 32, 1)))})


@pytest.mark.slow
def test_train_writes_model_card_and_logs(tiny_store, tmp_path, monkeypatch):
    import svhn_api
    from svhn_api.data import store

    opened, open_store = [], store._open
    monkeypatch.setattr(store, "_open", lambda path: opened.append(Path(path)) or open_store(path))
    out = svhn_api.train(tiny_store, root=tmp_path, name="run", **{**FAST, "onnx": True})
    assert opened == [Path(tiny_store)]   # two epochs, validated, carded: the store is opened once
    folder = tmp_path / "run"
    assert out.status == "complete" and out.epochs == 2 and out.steps == 6
    if keras.backend.backend() == "tensorflow":   # the finished model's ONNX sibling, checked and recorded
        assert out.onnx == str(folder / "model.onnx") and (folder / "model.onnx").is_file()
    else:                                         # exporting needs TensorFlow: a note says so
        assert out.onnx is None and "TensorFlow backend" in out.note
    assert (folder / "model.keras").is_file() and not (folder / checkpoint.FILE).exists()
    assert len((folder / "logs" / "metrics.jsonl").read_text().splitlines()) >= 2
    card = json.loads((folder / "card.json").read_text())
    assert card["architecture"]["name"] == "compact" and card["input"]["shape"] == [64, 64, 3]
    assert card["input"]["crop"] == "union" and "union box" in card["input"]["how"]
    assert card["data"]["sha256"] == provenance.sha256(tiny_store) and card["data"]["kind"] == "synthetic"
    assert card["data"]["crop"] == "union" and card["data"]["counts"]["train"] == 256
    assert len(card["training"]["history"]) == 2 and card["training"]["steps"] == 6
    assert {"cpu", "cpu_count", "backend"} <= set(card["hardware"]) and "keras" in card["versions"]
    assert card["training"]["wall_seconds"] > 0 and card["evaluations"] == []
    again = train(tiny_store, root=tmp_path, name="run", **FAST)
    assert again.note.startswith("already trained")
    with pytest.raises(ModelError, match="whose loss is 'sum', not 'masked'.*--fresh"):
        train(tiny_store, root=tmp_path, name="run", **{**FAST, "loss": "masked"})
    fresh = train(tiny_store, root=tmp_path, name="run", fresh=True, **{**FAST, "loss": "masked", "epochs": 1})
    assert fresh.status == "complete" and fresh.steps == 3


@pytest.mark.slow
@pytest.mark.backends
def test_default_folder_is_the_runs_folder_and_shipped_models_are_refused(tiny_store, tmp_path, monkeypatch):
    from svhn_api import paths

    monkeypatch.setenv("SVHN_RUNS", str(tmp_path / "my-runs"))
    out = train(tiny_store, **{**FAST, "epochs": 1, "limit": 32})
    assert out.folder == str(tmp_path / "my-runs" / "compact")
    with pytest.raises(ModelError, match="read-only"):
        train(tiny_store, root=paths.shipped_models_dir(), **FAST)


@pytest.mark.slow
def test_interrupted_run_resumes_exactly(tiny_store, tmp_path):
    """Train 1 epoch in one go; and 'kill' a run mid-epoch, then rerun the same call: same weights."""
    kw = {**FAST, "epochs": 1, "seed": 7}
    train(tiny_store, root=tmp_path, name="straight", deterministic=True, **kw)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_store, root=tmp_path, name="killed", stop_after=2, deterministic=True, **kw)
    folder = tmp_path / "killed"
    assert (folder / checkpoint.FILE).is_file()
    assert json.loads((folder / "card.json").read_text())["training"]["steps"] == 2
    out = train(tiny_store, root=tmp_path, name="killed", deterministic=True, **kw)
    assert out.resumed and out.steps == 3 and out.status == "complete"
    for a, b in zip(_weights(tmp_path / "straight"), _weights(folder), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_early_stopping_time_budget_and_capstone_store(tiny_store, tmp_path, monkeypatch):
    from tests.conftest import make_store

    out = train(tiny_store, root=tmp_path, name="es", patience=1, **{**FAST, "epochs": 6, "limit": 32})
    assert out.status == "early stopped" and out.epochs < 6
    monkeypatch.setattr(type(READ), "validation_score", lambda *a, **k: 0.5)   # never improves
    out = train(tiny_store, root=tmp_path, name="cap", patience=1, **{**FAST, "epochs": 2, "limit": 32})
    assert out.status == "complete" and out.epochs == 2      # the cap was reached: not "early stopped"
    monkeypatch.undo()
    out = train(tiny_store, root=tmp_path, name="budget", minutes=0.02, **{**FAST, "epochs": 50})
    assert out.status == "time limit" and (tmp_path / "budget" / "model.keras").is_file()
    capstone_store = make_store(tmp_path / "capstone.h5", {"train": 64, "validation": 16}, mode="capstone")
    out = train(capstone_store, root=tmp_path, model="capstone", loss="masked", progress=False, epochs=1)
    card = json.loads((tmp_path / "capstone" / "card.json").read_text())
    assert out.status == "complete" and card["input"]["shape"] == [32, 32, 1]
    assert card["input"]["crop"] == "capstone" and card["architecture"]["name"] == "capstone"
    assert card["decode"]["none_terms"] is False and card["training"]["config"]["augment"] is False


@pytest.mark.slow
def test_a_run_can_start_from_another_models_weights(tiny_store, tmp_path):
    first = models.build("compact")
    model_io.save(first, tmp_path / "start")
    out = train(tiny_store, root=tmp_path, name="tuned", init=tmp_path / "start",
                **{**FAST, "epochs": 1, "limit": 32, "lr": 1e-12})
    assert out.status == "complete"
    card = json.loads((tmp_path / "tuned" / "card.json").read_text())
    assert card["training"]["config"]["init"] == str((tmp_path / "start").resolve())
    tuned = model_io.load(tmp_path / "tuned", runtime="keras").keras_model
    dense = [layer for layer in tuned.layers if isinstance(layer, keras.layers.Dense)][0]
    start = [layer for layer in first.layers if isinstance(layer, keras.layers.Dense)][0]
    np.testing.assert_allclose(np.asarray(dense.kernel), np.asarray(start.kernel), atol=1e-6)
    with pytest.raises(ModelError, match="not the same architecture"):
        train(tiny_store, root=tmp_path, name="other", init=tmp_path / "start", model="deep", **{
            k: v for k, v in FAST.items() if k != "model"})


def test_progress_shows_no_retracing_warnings_and_says_early_accuracy_is_low(tiny_store, tmp_path, capfd, caplog):
    """Validation traces the inference function once per run (no TensorFlow "triggered tf.function retracing"
    warnings inside the bar), and an accuracy near 0 in the first epochs comes with a one-line hint."""
    train(tiny_store, root=tmp_path, name="shown", patience=10,
          **{**FAST, "epochs": 6, "limit": 32, "val_limit": 16, "progress": True})
    err = capfd.readouterr().err
    assert "retracing" not in err + caplog.text
    assert err.count("note: accuracy starts near 0") == 1, err
