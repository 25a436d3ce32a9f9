"""What keeps ``svhn serve`` up: its limits (``Limits``, read from ``$SVHN_SERVE_*`` so that every worker process
of ``svhn serve --workers`` gets the same) and the bounded queue of readings (``Queue``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from svhn_api.data.images import MAX_BYTES
from svhn_api.errors import SVHNError

ENV_PREFIX = "SVHN_SERVE_"


@dataclass(frozen=True)
class Limits:
    """Per worker process. ``max_bytes``: a request's body (every photo together); ``max_photos``: photos per
    request; ``queue``: requests admitted at once (reading or waiting to), beyond which the answer is 503;
    ``timeout``: seconds from a request's arrival to its answer, beyond which the answer is 504; ``threads``:
    readings run at once (each model call uses every core: more threads only contend for them)."""

    max_bytes: int = MAX_BYTES
    max_photos: int = 16
    queue: int = 64
    timeout: float = 30.0
    threads: int = 1

    def to_env(self) -> dict[str, str]:
        """The limits as ``$SVHN_SERVE_*`` variables (what ``from_env`` reads back)."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Limits:
        """The limits set in ``env`` (default ``os.environ``), the defaults for the others; ``SVHNError`` naming
        a variable that is not a number greater than 0."""
        env = dict(os.environ) if env is None else env
        values: dict[str, int | float] = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name not in env:
                continue
            kind = float if f.type in (float, "float") else int
            try:
                value = kind(env[name])
            except ValueError:
                value = 0
            if not value > 0:
                raise SVHNError(f"${name}={env[name]!r}: give a {'number' if kind is float else 'whole number'} "
                                "greater than 0")
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]


class Queue:
    """A count of the requests admitted, bounded: ``enter`` is refused (False) when ``size`` are in, and each
    admitted request ``leave``s once, when its reading has finished (not when its client stopped waiting: a
    reading that timed out still holds its place while its thread runs, so the bound is on the work)."""

    def __init__(self, size: int):
        self.size = size
        self.admitted = 0

    def enter(self) -> bool:
        if self.admitted >= self.size:
            return False
        self.admitted += 1
        return True

    def leave(self) -> None:
        self.admitted -= 1
