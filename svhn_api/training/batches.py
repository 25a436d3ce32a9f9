"""Training batches streamed from the store: a seeded order per epoch, read ahead on a thread.

Plain numpy, no framework input pipeline, so the same batches feed every Keras backend. Each epoch's order
comes from ``(seed, epoch)``, so a run can resume at any batch of any epoch and see the same data.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from svhn_api.data import store


def epoch_batches(data: store.Source, batch_size: int, seed: int, epoch: int, skip: int = 0,
                  limit: int | None = None, fields: Sequence[str] = ("images", "labels"),
                  ) -> Iterator[dict[str, np.ndarray]]:
    """Batches (``{field: rows}``) of one epoch of the train split, the first ``skip`` left out."""
    batches = store.iter_batches(data, "train", batch_size, shuffle=True, seed=seed * 100_003 + epoch, limit=limit,
                                 fields=fields)
    for i, b in enumerate(batches):
        if i >= skip:
            yield b


def steps_per_epoch(data: store.Source, batch_size: int, limit: int | None = None) -> int:
    n = store.count(data, "train")
    return math.ceil((n if limit is None else min(n, limit)) / batch_size)


def read_ahead(batches: Iterator, depth: int = 2) -> Iterator:
    """Iterate ``batches`` with up to ``depth`` items read in advance on a background thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fill() -> None:
        try:
            for item in batches:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            put(e)

    thread = threading.Thread(target=fill, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
