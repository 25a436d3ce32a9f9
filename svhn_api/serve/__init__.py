"""``svhn serve``: a JSON HTTP API over ``predict()`` for programs (``app``: the endpoints; ``limits``: what keeps it
up; ``schema``: its OpenAPI description and /docs page; ``facts``: /models). Starlette on uvicorn: both come with
Streamlit, so the service adds no dependency, and its /docs page needs nothing from the internet."""

from __future__ import annotations

import os

from svhn_api.errors import SVHNError
from svhn_api.serve.limits import Limits

__all__ = ["serve", "Limits", "DEFAULT_HOST", "DEFAULT_PORT"]
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, workers: int = 1, limits: Limits | None = None,
          log_level: str = "info") -> None:
    """Serve until interrupted. ``workers`` > 1: that many processes on one socket under uvicorn's supervisor,
    which starts a new one when one dies; each loads its own models and has its own ``limits`` (passed to them as
    ``$SVHN_SERVE_*``)."""
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise SVHNError(f"svhn serve needs Starlette and uvicorn ({e.name} is not installed): "
                        "pip install 'svhn-reader[serve]'") from None
    os.environ.update((limits or Limits.from_env()).to_env())
    uvicorn.run("svhn_api.serve.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=10)
