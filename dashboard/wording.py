"""How the pages say things: percentages, paths to paste, the unsure line and which runtime read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from svhn_api.errors import ModelError


def runtime_line(result: Any) -> str:
    """Which runtime ran each model of a reading, in words."""
    ran = getattr(result, "runtime", {}) or {}
    names = {"onnxruntime": "ONNX Runtime", "keras": "Keras"}
    by_runtime: dict[str, list[str]] = {}
    for role, runtime in ran.items():
        by_runtime.setdefault(names.get(runtime, runtime), []).append(role)
    return ("Read on " + "; ".join(f"{rt} ({', '.join(roles)})" for rt, roles in by_runtime.items())) if ran else ""


FALLBACK_UNSURE = 0.5   # for a model without a calibrated threshold: under this, the reading is a guess


def is_unsure(result: Any) -> bool:
    """The reading is flagged by its model's calibrated threshold, or (uncalibrated) is under 50%."""
    return bool(result.unsure) or float(result.confidence) < FALLBACK_UNSURE


def shown_path(path: str | Path) -> str:
    """``path`` relative to the working folder when inside it (for commands to paste in the same folder that
    the dashboard runs in, where the default locations are), else absolute."""
    p, here = Path(path).resolve(), Path.cwd().resolve()
    return str(p.relative_to(here)) if p.is_relative_to(here) else str(p)


def unsure_line(result: Any) -> str:
    return ("this model's calibrated threshold for a reliable reading" if result.unsure else
            f"{percent(FALLBACK_UNSURE)} (this model has no calibrated threshold)")


def percent(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def read_failed(name: str, error: BaseException) -> str:
    """Why a photo was not read: the photo's fault ("Could not read <name>: ..."), or a model's, said so (a
    ``ModelError`` names the model's file, which is not the photo)."""
    if isinstance(error, ModelError):
        return f"{name} was not read: a model failed, not the photo. {error}"
    return f"Could not read {error}"
