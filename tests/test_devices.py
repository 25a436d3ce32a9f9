"""Data-parallel training (``train(devices=...)``, ``training.devices``): on 2 CPU devices (JAX's
``--xla_force_host_platform_device_count=2``, in a child process so that the flag comes before JAX starts),
the same losses as one device on the same global batch and learning rate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
from pathlib import Path
from svhn_api import train
from tests.conftest import make_store
import jax
assert len(jax.devices()) == 2, jax.devices()
d = Path(sys.argv[1])
store = make_store(d / "s.h5", {"train": 256, "validation": 32, "test": 8})
two = train(store, model="compact", name="two", root=d, epochs=2, batch_size=16, devices="all", augment=False,
            progress=False)
one = train(store, model="compact", name="one", root=d, epochs=2, batch_size=32, lr=2 * 3e-3, augment=False,
            progress=False)
import keras
print(json.dumps({"distribution_after": keras.distribution.distribution() is None,
                  **{k: json.loads((d / k / "card.json").read_text())["training"] for k in ("one", "two")}}))
"""


@pytest.mark.slow
def test_two_devices_train_like_one_device_on_the_same_global_batch(tmp_path):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    one, two = out["one"], out["two"]
    assert two["config"]["devices"] == 2 and two["config"]["batch_size"] == 32   # 16 per device
    assert two["config"]["lr"] == pytest.approx(2 * 3e-3)                      # the recipe's, scaled by 2
    losses_one, losses_two = [h["loss"] for h in one["history"]], [h["loss"] for h in two["history"]]
    assert losses_two[-1] < losses_two[0]                                       # it learns
    assert losses_two == pytest.approx(losses_one, rel=1e-3)                    # the same arithmetic
    assert out["distribution_after"]                                            # the global setting is undone


def test_several_devices_need_the_jax_backend():
    from svhn_api.backend import import_keras
    from svhn_api.training.devices import count

    if import_keras().backend.backend() == "jax":
        pytest.skip("this process runs JAX: the TensorFlow refusal is checked in the TensorFlow run")
    assert count(None) == 1 and count(1) == 1
    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        count("all")
