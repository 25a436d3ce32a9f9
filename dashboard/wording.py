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


def unsure_line(result: Any, threshold: float | None = None, what: str = "") -> str:
    """What the confidence fell under: ``what`` (``view_model.sure_threshold``) with its figure, else the fallback."""
    if result.unsure:
        if threshold is None:
            return f"{what or 'the calibrated threshold'} for a reliable reading"
        return f"{what} ({percent_beside(threshold, float(result.confidence))})"
    return f"{percent(FALLBACK_UNSURE)} (this model has no calibrated threshold)"


def percent_beside(x: float, other: float) -> str:
    """``x`` as a percentage with as many decimals (1 to 6) as it takes not to read like ``other`` (99.9943%
    beside 99.999996%, not 100.0% beside 100.0%), and never 100% for less than 1."""
    for decimals in range(1, 7):
        shown = f"{100 * x:.{decimals}f}"
        if (x == other or shown != f"{100 * other:.{decimals}f}") and not (x < 1 and float(shown) >= 100):
            return f"{shown}%"
    return "> 99.9999%" if x < 1 and x != other else f"{100 * x:.6f}%"


PIPELINE_NAMES = {"full": "Full pipeline", "fast": "Fast path"}
PIPELINE_HOW = {
    "full": "the fast path's box and the text detector's boxes, each read by our reader (with the digit "
            "classifier) and by the pretrained scene-text recognizer; the answer chosen by agreement",
    "fast": "our reader, localizer and digit classifier alone (several times faster, worse on numbers small in "
            "the photo)"}
CONFIDENCE_MEANS = {
    "full": "the calibrated probability that the reading is right (fitted on the real validation photos)",
    "fast": "the reader's probability of this reading, joined with the digit classifier's"}


def pipeline_line(result: Any, threshold: float | None, what: str) -> str:
    """Which pipeline read, how, what its confidence means and the threshold "sure" starts from."""
    kind = "full" if getattr(result, "pipeline", "fast") == "full" else "fast"
    sure = ("no calibrated threshold: under 50% is a guess" if threshold is None else
            f"sure from {percent_beside(threshold, float(result.confidence))} ({what})")
    return f"**{PIPELINE_NAMES[kind]}**: {PIPELINE_HOW[kind]}. Confidence is {CONFIDENCE_MEANS[kind]}; {sure}."


def percent(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def read_failed(name: str, error: BaseException) -> str:
    """Why a photo was not read: the photo's fault ("Could not read <name>: ..."), or a model's, said so (a
    ``ModelError`` names the model's file, which is not the photo)."""
    if isinstance(error, ModelError):
        return f"{name} was not read: a model failed, not the photo. {error}"
    return f"Could not read {error}"
