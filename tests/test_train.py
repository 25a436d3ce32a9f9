import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from svhn_api.errors import ModelError  # noqa: E402
from svhn_api.models import architectures as models  # noqa: E402
from svhn_api.models import card as cards  # noqa: E402
from svhn_api.models import io as model_io  # noqa: E402
from svhn_api.training.train import (  # noqa: E402
    CHECKPOINT,
    augment_batch,
    learning_rate,
    make_optimizer,
    make_train_step,
    sequence_loss,
    train,
)

FAST = {"model": "compact", "epochs": 2, "batch_size": 32, "limit": 96, "val_limit": 32, "progress": False}


def _weights(folder):
    return [v.numpy() for v in model_io.load(folder / "model.keras").keras_model.weights]


def test_masked_loss_gives_no_gradient_to_absent_digits():
    labels = tf.constant([[2, 4, 7, 10, 10, 10]], tf.int8)
    logits = tf.Variable(tf.random.stateless_normal((1, 6, 11), (0, 1)))
    for kind, live in (("masked", [1, 1, 1, 0, 0, 0]), ("sum", [1] * 6)):
        with tf.GradientTape() as tape:
            loss = sequence_loss(labels, logits, kind)
        g = tape.gradient(loss, logits).numpy()[0]
        assert [int(np.abs(row).sum() > 0) for row in g] == live
    with pytest.raises(ValueError):
        sequence_loss(labels, logits, "nope")


def test_augmentation_is_seeded_uint8_and_keeps_shape():
    x = tf.constant(np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
    a, b, c = augment_batch(x, [1, 2]), augment_batch(x, [1, 2]), augment_batch(x, [1, 3])
    assert a.dtype == tf.uint8 and a.shape == x.shape
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a, x)


def test_learning_rate_schedules():
    r = models.RECIPES
    assert learning_rate(r["seed"], 0.01, 10**6, 1.0) == 0.01
    assert learning_rate(r["deep"], 0.01, 20_000, 0.5) == pytest.approx(0.01 * 0.81)
    cos = [learning_rate(r["compact"], 3e-3, s, s / 1000) for s in (0, 300, 600, 1000)]
    assert cos[0] < cos[1] and cos[1] > cos[2] > cos[3] and cos[3] == pytest.approx(6e-5)


def test_every_architecture_takes_a_training_step():
    for name, shape in (("seed", (32, 32, 1)), ("deep", (64, 64, 3))):
        net = models.build(name, shape)
        step = make_train_step(net, make_optimizer(models.RECIPES[name]), "masked")
        x = np.random.default_rng(0).integers(0, 256, (2, *shape), dtype=np.uint8)
        y = np.array([[1, 3, 10, 10, 10, 10], [2, 0, 9, 10, 10, 10]], np.int8)
        assert np.isfinite(float(step(x, y)))


def test_train_writes_model_card_and_logs(tiny_store, tmp_path):
    import svhn_api

    out = svhn_api.train(tiny_store, root=tmp_path, name="run", **FAST)
    folder = tmp_path / "run"
    assert out["status"] == "complete" and out["epochs"] == 2 and out["steps"] == 6
    assert (folder / "model.keras").is_file() and not (folder / CHECKPOINT).exists()
    assert list((folder / "logs").glob("events.out.tfevents.*"))
    card = json.loads((folder / "card.json").read_text())
    assert card["architecture"]["name"] == "compact" and card["input"]["shape"] == [64, 64, 3]
    assert card["data"]["sha256"] == cards.sha256(tiny_store) and card["data"]["kind"] == "synthetic"
    assert card["data"]["crop"] == "union" and card["data"]["counts"]["train"] == 256
    assert len(card["training"]["history"]) == 2 and card["training"]["steps"] == 6
    assert {"cpu", "cpu_count"} <= set(card["hardware"]) and "tensorflow" in json.dumps(card["versions"])
    assert card["training"]["wall_seconds"] > 0 and card["evaluations"] == []
    again = train(tiny_store, root=tmp_path, name="run", **FAST)
    assert again["note"].startswith("already trained")
    with pytest.raises(ModelError, match="other settings"):
        train(tiny_store, root=tmp_path, name="run", **{**FAST, "loss": "masked"})


def test_interrupted_run_resumes_exactly(tiny_store, tmp_path):
    """Train 1 epoch in one go; and 'kill' a run mid-epoch, then rerun the same call: same weights."""
    kw = {**FAST, "epochs": 1, "seed": 7}
    train(tiny_store, root=tmp_path, name="straight", **kw)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_store, root=tmp_path, name="killed", stop_after=2, **kw)
    folder = tmp_path / "killed"
    assert (folder / CHECKPOINT).is_file()
    assert json.loads((folder / "card.json").read_text())["training"]["steps"] == 2
    out = train(tiny_store, root=tmp_path, name="killed", **kw)
    assert out["resumed"] and out["steps"] == 3 and out["status"] == "complete"
    for a, b in zip(_weights(tmp_path / "straight"), _weights(folder), strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_time_budget_and_seed_store(tiny_store, tmp_path):
    from tests.conftest import make_store

    out = train(tiny_store, root=tmp_path, name="es", patience=1, **{**FAST, "epochs": 6, "limit": 32})
    assert out["status"] == "early stopped" and out["epochs"] < 6
    out = train(tiny_store, root=tmp_path, name="budget", minutes=0.02, **{**FAST, "epochs": 50})
    assert out["status"] == "time limit" and (tmp_path / "budget" / "model.keras").is_file()
    seed_store = make_store(tmp_path / "seed.h5", {"train": 64, "validation": 16}, mode="seed")
    out = train(seed_store, root=tmp_path, model="seed", loss="masked", progress=False, epochs=1)
    card = json.loads((tmp_path / "seed" / "card.json").read_text())
    assert out["status"] == "complete" and card["input"]["shape"] == [32, 32, 1]
    assert card["decode"]["none_terms"] is False and card["training"]["config"]["augment"] is False
