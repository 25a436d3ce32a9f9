"""The full pipeline's last stage: the confidence users see, and whether a reading is sure.

``pipelines.calibrate`` reads the real validation photos (plain and re-framed to the test split's framing;
never test photos) with the full pipeline, whole and with each number's true box given, and fits for each of
those two modes and each reason an answer can have (``choose.REASONS``) a monotone map from its evidence to
the share of such readings that were right (pool-adjacent-violators, each pool's share smoothed as
(right + 1) / (count + 2), so no pool claims certainty). The confidence of a reading is that share; it is
sure when the confidence reaches the mode's ``sure_from``, the lowest confidence at which the validation
readings at or above it were right at least ``target`` of the time, placed halfway to the next lower
confidence seen, so float noise cannot flip a reading that sits on it.

The fitted table is shipped as ``artifacts/models/calibration.json`` and records the photos it was fitted on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from svhn_api import paths
from svhn_api.atomic import atomic_path
from svhn_api.errors import ModelError
from svhn_api.inference.choose import REASONS, Reason

FILE = "calibration.json"
TARGET = 0.98
Mode = Literal["whole photo", "given box"]
MODES: tuple[Mode, ...] = get_args(Mode)


@dataclass(frozen=True)
class ModeCalibration:
    """For one mode (a whole photo, or a photo with its number's box given): per reason, the evidence from which
    each pool starts (ascending) and the pool's confidence; and the confidence from which a reading is sure."""

    pools: dict[Reason, tuple[tuple[float, ...], tuple[float, ...]]]
    sure_from: float

    def confidence(self, reason: Reason, evidence: float) -> float:
        starts, shares = self.pools[reason]
        if not starts:
            return 0.0
        k = int(np.searchsorted(np.asarray(starts), evidence, side="right")) - 1
        return float(shares[max(k, 0)])


@dataclass(frozen=True)
class Calibration:
    """The calibration of each mode, and the photos it was fitted on."""

    modes: dict[Mode, ModeCalibration]
    basis: dict[str, Any]

    def confidence(self, mode: Mode, reason: Reason, evidence: float) -> float:
        return self.modes[mode].confidence(reason, evidence)

    def sure(self, mode: Mode, confidence: float) -> bool:
        return confidence >= self.modes[mode].sure_from

    def to_json(self) -> str:
        return json.dumps({"modes": {m: {"sure_from": c.sure_from,
                                         "pools": {r: {"from_evidence": list(s), "confidence": list(v)}
                                                   for r, (s, v) in c.pools.items()}}
                                     for m, c in self.modes.items()},
                           "basis": self.basis}, indent=1) + "\n"


def _share(block: list[float]) -> float:
    return (block[1] + 1) / (block[2] + 2)


def _pools(evidence: np.ndarray, right: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Pool-adjacent-violators over readings sorted by evidence: (each pool's lowest evidence, its share)."""
    order = np.argsort(evidence, kind="stable")
    blocks: list[list[float]] = []            # [start evidence, right, count]
    for e, r in zip(evidence[order], right[order], strict=True):
        if blocks and blocks[-1][0] == e:
            blocks[-1][1] += float(r)
            blocks[-1][2] += 1
        else:
            blocks.append([float(e), float(r), 1.0])
        while len(blocks) > 1 and _share(blocks[-2]) >= _share(blocks[-1]):
            _, r2, n2 = blocks.pop()
            blocks[-1][1] += r2
            blocks[-1][2] += n2
    return tuple(b[0] for b in blocks), tuple(_share(b) for b in blocks)


def sure_threshold(confidence: np.ndarray, right: np.ndarray, target: float = TARGET) -> float:
    """The lowest confidence whose readings at or above it are right ``target`` of the time, moved halfway to the
    next lower confidence seen (above every confidence when none reaches ``target``)."""
    levels = np.unique(confidence)[::-1]
    chosen = None
    for level in levels:
        kept = confidence >= level
        if right[kept].mean() >= target:
            chosen = level
    if chosen is None:
        return float(np.nextafter(levels[0], np.inf)) if len(levels) else 1.0
    lower = levels[levels < chosen]
    return float((chosen + lower[0]) / 2) if len(lower) else float(chosen)


def fit_mode(reasons: Sequence[str], evidence: Sequence[float], right: Sequence[bool] | np.ndarray,
             target: float = TARGET) -> ModeCalibration:
    """One mode's calibration from its readings' reasons, evidence and correctness (see the module's docstring)."""
    reasons_a, evidence_a, right_a = np.asarray(reasons), np.asarray(evidence, float), np.asarray(right, bool)
    pools = {r: _pools(evidence_a[reasons_a == r], right_a[reasons_a == r]) for r in REASONS}
    mode = ModeCalibration(pools, 1.0)
    conf = np.array([mode.confidence(r, e) for r, e in zip(reasons, evidence, strict=True)])  # type: ignore[arg-type]
    return ModeCalibration(pools, sure_threshold(conf, right_a, target))


def write(cal: Calibration, folder: Path | None = None) -> Path:
    path = (folder or paths.shipped_models_dir()) / FILE
    with atomic_path(path) as tmp:
        tmp.write_text(cal.to_json())
    return path


_CACHE: dict[tuple[str, int, int], Calibration] = {}


def read(path: str | Path | None = None) -> Calibration | None:
    """The shipped calibration (or the one at ``path``), read once per file version; None when there is none."""
    path = Path(path) if path is not None else paths.shipped_models_dir() / FILE
    if not path.is_file():
        return None
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = _parse(path)
    return _CACHE[key]


def _parse(path: Path) -> Calibration:
    try:
        raw = json.loads(path.read_text())
        modes = {m: ModeCalibration({r: (tuple(float(v) for v in raw["modes"][m]["pools"][r]["from_evidence"]),
                                         tuple(float(v) for v in raw["modes"][m]["pools"][r]["confidence"]))
                                     for r in REASONS}, float(raw["modes"][m]["sure_from"])) for m in MODES}
        return Calibration(modes, dict(raw.get("basis", {})))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: not a calibration of the full pipeline ({e}); run `python -m "
                         "pipelines.calibrate` again") from None
