"""Data-parallel training over several devices: Keras 3's distribution API on JAX, ``tf.distribute`` on
TensorFlow.

``with data_parallel(n):`` around building and training, and ``step(trainer, x, y)`` for each batch: every
variable is replicated on ``n`` devices, each batch is split across them, and the gradients are averaged,
so one step is the same arithmetic as a single-device step on the whole batch (on TensorFlow, batch norm
normalises over each replica's slice). ``train(devices=...)``
keeps the per-device batch of the recipe and multiplies the batch and the learning rate by ``n`` (the
linear scaling rule).

- JAX: ``keras.distribution.DataParallel`` over the first ``n`` devices. On CPU,
  ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` gives 2 devices. Several machines: with
  ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (and ``..._NUM_PROCESSES``, ``..._PROCESS_ID``) set, every process
  joins the cluster (``keras.distribution.initialize()``), the devices are every process's, and each
  process feeds its own share of the global batch (the README's "Scaling out").
- TensorFlow: ``tf.distribute.MirroredStrategy`` over the GPUs (or, with none, the logical CPU devices).
  Keras's ``train_on_batch`` would hand each replica the whole batch, so ``step`` gives each replica its
  own slice (``experimental_distribute_values_from_function``) and runs the trainer's compiled train
  function on them. ``TF_CONFIG`` (``MultiWorkerMirroredStrategy``) is refused: Keras 3's TensorFlow
  trainer cannot reduce its loss under it (tensorflow/tensorflow#72388).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from svhn_api.backend import import_keras


def count(devices: int | str | None) -> int:
    """How many devices ``devices`` means: None or 1 -> 1; ``"all"`` -> every device the backend sees (every
    process's, in a JAX cluster); N -> N (at most that many)."""
    if devices is None or devices == 1 or devices == "1":
        return 1
    backend = import_keras().backend.backend()
    if backend == "jax":
        _join_jax_cluster()
        available = len(import_keras().distribution.list_devices())
    elif backend == "tensorflow":
        if json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster"):
            raise ValueError("TF_CONFIG is set: training on several machines runs on the JAX backend (KERAS_BACKEND="
                             "jax with KERAS_DISTRIBUTION_JOB_ADDRESSES, see the README's \"Scaling out\"); Keras "
                             "3's TensorFlow trainer cannot reduce its loss under MultiWorkerMirroredStrategy "
                             "(tensorflow/tensorflow#72388)")
        available = _tf_strategy(None).num_replicas_in_sync
    else:
        raise ValueError(f"devices={devices!r}: data-parallel training runs on the JAX or TensorFlow backend; set "
                         f"KERAS_BACKEND=jax or tensorflow (this process uses {backend})")
    n = available if devices == "all" else int(devices)
    if n < 1 or n > available:
        raise ValueError(f"devices={devices!r}: {available} device(s) visible; give 1 to {available} or 'all'")
    return n


@contextmanager
def data_parallel(n: int) -> Iterator[None]:
    """Within the block, Keras builds and trains data-parallel over the first ``n`` devices (nothing for 1)."""
    if n <= 1:
        yield
        return
    keras = import_keras()
    if keras.backend.backend() == "tensorflow":
        strategy = _tf_strategy(None)
        with (strategy if strategy.num_replicas_in_sync == n else _tf_strategy(n)).scope():
            yield
        return
    dist = keras.distribution
    dist.set_distribution(dist.DataParallel(devices=dist.list_devices()[:n]))
    try:
        yield
    finally:
        dist.set_distribution(None)


def step(trainer: Any, x: np.ndarray, y: Any) -> Any:
    """One training step on the whole batch ``(x, y)``; returns the loss (a backend scalar)."""
    p = processes()
    if p > 1:   # each process hands in its own share of the global batch
        import jax

        return trainer.train_on_batch(np.split(x, p)[jax.process_index()], np.split(y, p)[jax.process_index()])
    strategy = _active_tf_strategy()
    if strategy is None:
        return trainer.train_on_batch(x, y)
    if trainer.train_function is None:   # Keras builds the compiled loss outside the replicas first
        n = strategy.num_replicas_in_sync
        trainer.test_on_batch(x[:n], y[:n])
        trainer.make_train_function()
    trainer.reset_metrics()
    batch = (_split(strategy, x), _split(strategy, y), None)
    return trainer.train_function(iter([batch]))["loss"]


def divisible(x: np.ndarray, y: Any, n: int) -> tuple[np.ndarray, Any]:
    """A batch cut to a multiple of ``n`` rows (an epoch's last batch), so that it splits evenly."""
    keep = len(x) - len(x) % n
    if n <= 1 or keep == len(x):
        return x, y
    return x[:keep], y[:keep]


def _split(strategy: Any, a: np.ndarray) -> Any:
    """``a``'s equal share for each replica (by its global index: every worker holds the whole batch)."""
    import tensorflow as tf

    n = strategy.num_replicas_in_sync
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(np.split(a, n)[ctx.replica_id_in_sync_group]))


def _active_tf_strategy() -> Any:
    if import_keras().backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    return strategy if strategy is not None and strategy.num_replicas_in_sync > 1 else None


@functools.cache
def _join_jax_cluster() -> None:
    """Several processes (machines): ``keras.distribution.initialize()`` once, when the launcher has set
    ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (coordinator first), ``..._NUM_PROCESSES`` and ``..._PROCESS_ID``."""
    if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        import_keras().distribution.initialize()


def processes() -> int:
    """How many processes train together (several under ``KERAS_DISTRIBUTION_JOB_ADDRESSES``, JAX)."""
    if import_keras().backend.backend() != "jax" or not os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        return 1
    import jax

    _join_jax_cluster()
    return jax.process_count()


@functools.cache
def _tf_strategy(n: int | None) -> Any:
    """``MirroredStrategy`` over the first ``n`` GPUs, or logical CPU devices when there is no GPU (None: all).
    Made once per ``n``: the variables built in its scope belong to it."""
    import tensorflow as tf

    local = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in (local if n is None else local[:n])])
