"""Data-parallel training over several devices, through Keras 3's distribution API (JAX backend).

``with data_parallel(n):`` around building and training: every variable is replicated on ``n`` devices,
each batch is split across them, and the compiled step averages the gradients, so one step is the same
arithmetic as a single-device step on the whole batch. ``train(devices=...)`` keeps the per-device batch
of the recipe and multiplies the batch and the learning rate by ``n`` (the linear scaling rule).

On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` gives JAX 2 devices (the tests use it).
Several machines: the same code under ``jax.distributed.initialize()`` (see the README's "Scaling out").
The TensorFlow backend (``tf.distribute.MirroredStrategy``) is not wired in: it asks for the JAX backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from svhn_api.backend import import_keras


def count(devices: int | str | None) -> int:
    """How many devices ``devices`` means: None or 1 -> 1; ``"all"`` -> every device the backend sees; N -> N
    (at most that many)."""
    if devices is None or devices == 1 or devices == "1":
        return 1
    keras = import_keras()
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(f"devices={devices!r}: data-parallel training runs on the JAX backend; set "
                         f"KERAS_BACKEND=jax (this process uses {backend})")
    available = len(keras.distribution.list_devices())
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
    dist = keras.distribution
    dist.set_distribution(dist.DataParallel(devices=dist.list_devices()[:n]))
    try:
        yield
    finally:
        dist.set_distribution(None)


def divisible(x: np.ndarray, y: Any, n: int) -> tuple[np.ndarray, Any]:
    """A batch cut to a multiple of ``n`` rows (an epoch's last batch), so that it splits evenly."""
    keep = len(x) - len(x) % n
    if n <= 1 or keep == len(x):
        return x, y
    return x[:keep], y[:keep]
