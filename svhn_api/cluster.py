"""The Dask cluster a command runs on (``--scheduler tcp://HOST:PORT``). Dask is optional: the ``cluster`` extra
(dask, distributed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from svhn_api.errors import DataError


@contextmanager
def connected(scheduler: str) -> Iterator[Any]:
    """A ``distributed.Client`` of the scheduler at ``scheduler`` for the block, the default client meanwhile
    (joblib's Dask backend uses that one); ``DataError`` saying what to do when Dask is missing or nothing
    answers there."""
    try:
        from distributed import Client
    except ImportError as e:
        raise DataError(f"--scheduler {scheduler}: Dask is not installed; pip install 'svhn-reader[cluster]' "
                        "(dask and distributed), or run without --scheduler") from e
    try:
        client = Client(scheduler, timeout="20s", set_as_default=True)
    except OSError as e:
        raise DataError(f"--scheduler {scheduler}: no Dask scheduler answers there ({e}); start one "
                        "(`dask scheduler`, then `dask worker tcp://HOST:PORT` on each machine) or check the "
                        "address") from e
    with client:
        yield client
