"""Data-parallel training (``train(devices=...)``, ``training.devices``), each case in child processes so that
the device settings come before the backend starts:

- JAX, 2 CPU devices (``--xla_force_host_platform_device_count=2``): the same losses as one device on the same
  global batch and learning rate;
- TensorFlow, 2 logical CPU devices (``MirroredStrategy``): each replica gets half of each batch, and the losses
  follow one device's (batch norm normalises over each replica's half, so they are close, not equal);
- JAX, 2 processes on 127.0.0.1 (``KERAS_DISTRIBUTION_*``, the multi-machine setup): both processes hold the
  same model, and the losses equal one process's on the same global batch.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# a 256-row store; "two": 2 devices at 16 per device; "one": 1 device on the same global batch and learning rate
TWO_AND_ONE = """
d = Path(sys.argv[1])
store = make_store(d / "s.h5", {"train": 256, "validation": 32, "test": 8})
two = train(store, model="compact", name="two", root=d, epochs=2, batch_size=16, devices="all", augment=False,
            progress=False, onnx=False)
one = train(store, model="compact", name="one", root=d, epochs=2, batch_size=32, lr=2 * 3e-3, augment=False,
            progress=False, onnx=False)
"""

SCRIPT = """
import json, sys
from pathlib import Path
from svhn_api import train
from tests.conftest import make_store
import jax
assert len(jax.devices()) == 2, jax.devices()
""" + TWO_AND_ONE + """import keras
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


TF_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
import keras, numpy as np
from svhn_api import train
from svhn_api.training.devices import count, data_parallel, step
from tests.conftest import make_store
seen = []
class Shape(keras.layers.Layer):
    def call(self, x):
        if x.shape[0] is not None:
            seen.append(int(x.shape[0]))   # at tracing, once per replica
        return x
with data_parallel(count("all")):
    m = keras.Sequential([keras.Input((3,)), Shape(), keras.layers.Dense(2)])
    m.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    step(m, np.ones((8, 3), "float32"), np.zeros(8, "int64"))
""" + TWO_AND_ONE + """print(json.dumps({"devices": count("all"), "seen": seen,
                  **{k: json.loads((d / k / "card.json").read_text())["training"] for k in ("one", "two")}}))
"""


@pytest.mark.slow
def test_tensorflow_mirrored_strategy_splits_each_batch_over_two_devices(tmp_path):
    pytest.importorskip("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", TF_SCRIPT, str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2
    assert out["seen"][-2:] == [4, 4] and 8 not in out["seen"]  # the step: 8 rows, 4 on each replica
    one, two = out["one"], out["two"]
    assert two["config"]["devices"] == 2 and two["config"]["batch_size"] == 32
    losses_one, losses_two = [h["loss"] for h in one["history"]], [h["loss"] for h in two["history"]]
    assert losses_two[-1] < losses_two[0]
    assert losses_two == pytest.approx(losses_one, rel=0.05)


WORKER = """
import json, sys
from pathlib import Path
from svhn_api import train
d, i = Path(sys.argv[1]), sys.argv[2]
train(d / "s.h5", model="compact", name="w", root=d / f"worker{i}", epochs=2, batch_size=16, devices="all",
      augment=False, progress=False, onnx=False)
"""


@pytest.mark.slow
def test_two_processes_train_like_one_process(tmp_path):
    """The README's multi-machine example, on 127.0.0.1: two processes, one CPU device each."""
    pytest.importorskip("jax")
    from tests.conftest import make_store

    make_store(tmp_path / "s.h5", {"train": 256, "validation": 32, "test": 8})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "XLA_FLAGS": "",
           "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), str(i)], cwd=ROOT,
                                env={**env, "KERAS_DISTRIBUTION_PROCESS_ID": str(i)}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-3000:]
    reference = ("from svhn_api import train; import sys; train(sys.argv[1] + '/s.h5', model='compact', name='one', "
                 "root=sys.argv[1], epochs=2, batch_size=32, lr=2 * 3e-3, augment=False, progress=False, onnx=False)")
    run = subprocess.run([sys.executable, "-c", reference, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    cards = {k: json.loads(p.read_text())["training"] for k, p in
             (("0", tmp_path / "worker0/w/card.json"), ("1", tmp_path / "worker1/w/card.json"),
              ("one", tmp_path / "one/card.json"))}
    assert cards["0"]["config"]["devices"] == 2 and cards["0"]["config"]["batch_size"] == 32
    losses = {k: [h["loss"] for h in c["history"]] for k, c in cards.items()}
    assert losses["0"] == losses["1"]                                   # one model, held by both processes
    assert losses["0"][-1] < losses["0"][0]
    assert losses["0"] == pytest.approx(losses["one"], rel=1e-3)        # the arithmetic of one device


def test_several_devices_need_a_backend_that_distributes(monkeypatch):
    from svhn_api.backend import import_keras
    from svhn_api.training.devices import count

    assert count(None) == 1 and count(1) == 1
    if import_keras().backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow refusal of TF_CONFIG is checked in the TensorFlow run")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match="KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        count("all")
