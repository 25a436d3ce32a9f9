"""The model card: ``card.json`` beside ``model.keras``, one typed object (``ModelCard``), written atomically
and updated under a lock.

It says what the model is (architecture, input spec, decoding), what it was trained on (store path,
SHA-256, crop, counts, real or synthetic), how (config, steps, wall time, hardware, library versions,
per-epoch history) and every evaluation run on it, each naming its data. Readers get typed fields with
defaults, so no consumer has to guard against a missing or mistyped entry.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from svhn_api.atomic import atomic_path
from svhn_api.errors import ModelError
from svhn_api.models.folder import ModelFolder


@dataclass
class InputSpec:
    """What the model reads: the stored image shape and the crop that made it."""

    shape: list[int] = field(default_factory=list)
    dtype: str = "uint8"
    crop: str = "union"
    how: str = ""


@dataclass
class DecodeSpec:
    joint: bool = True
    none_terms: bool = True     # False for models trained with the masked loss (they never learn "no digit")
    unsure_below: float | None = None   # readings less confident than this are flagged unsure (calibrated)
    unsure_basis: str = ""              # the data and target the threshold was calibrated on


@dataclass
class TrainingRecord:
    config: dict[str, Any] = field(default_factory=dict)
    epochs_planned: int | None = None
    minutes_budget: float | None = None
    patience: int | None = None
    status: str | None = None
    epochs_done: int = 0
    steps: int = 0
    wall_seconds: float = 0.0
    sessions: int = 0
    started: str | None = None
    best_epoch: float | None = None
    best_val_accuracy: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ModelCard:
    name: str = ""
    architecture: dict[str, Any] = field(default_factory=dict)
    input: InputSpec = field(default_factory=InputSpec)
    decode: DecodeSpec = field(default_factory=DecodeSpec)
    data: dict[str, Any] = field(default_factory=dict)
    training: TrainingRecord | None = None
    hardware: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    onnx: dict[str, Any] = field(default_factory=dict)   # the checked ONNX export beside model.keras (models.runtime)
    updated: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str | Path = "card") -> ModelCard:
        """Parse a card; unknown keys are ignored, a wrongly typed section is an error naming the card."""
        if not isinstance(d, dict):
            raise ModelError(f"{source}: not a model card (a JSON object is expected); restore it or retrain")
        try:
            return cls(
                name=str(d.get("name", "")),
                architecture=_section(d, "architecture", dict),
                input=_typed(InputSpec, _section(d, "input", dict)),
                decode=_typed(DecodeSpec, _section(d, "decode", dict)),
                data=_section(d, "data", dict),
                training=_typed(TrainingRecord, d["training"]) if isinstance(d.get("training"), dict) else None,
                hardware=_section(d, "hardware", dict),
                versions=_section(d, "versions", dict),
                evaluations=[e for e in _section(d, "evaluations", list) if isinstance(e, dict)],
                notes=[str(n) for n in _section(d, "notes", list)],
                onnx=_section(d, "onnx", dict),
                updated=d.get("updated"),
            )
        except (TypeError, ValueError) as e:
            raise ModelError(f"{source}: malformed model card ({e}); restore it or retrain the model") from e

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def architecture_name(self) -> str | None:
        return self.architecture.get("name")

    @property
    def steps(self) -> int | None:
        return self.training.steps if self.training else None


def _section(d: dict, key: str, kind: type) -> Any:
    value = d.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise TypeError(f"{key!r} should be a {kind.__name__}, not {type(value).__name__}")
    return value


def _typed(cls: type, d: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def read(folder: str | Path) -> ModelCard | None:
    """The card of a model folder, or None when it has none."""
    path = ModelFolder(folder).card
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable model card ({e}); restore it or retrain the model") from e
    return ModelCard.from_dict(raw, path)


def write(folder: str | Path, card: ModelCard) -> Path:
    """Write ``card`` atomically (temporary file in the same folder, then ``os.replace``)."""
    path = ModelFolder(folder).card
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(card.to_dict(), indent=2, default=_json_default) + "\n")
    return path


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself (POSIX ``flock``: no lock file left behind); elsewhere a lock
    file created exclusively, waited for up to a minute."""
    try:
        import fcntl
    except ImportError:
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
        return
    lock = ModelFolder(folder).card_lock
    deadline = time.monotonic() + 60
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise ModelError(f"{lock}: the card is locked by another process; delete the lock file if "
                                 "no training or evaluation is running") from None
            time.sleep(0.05)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def update(folder: str | Path, change: Callable[[ModelCard | None], ModelCard]) -> ModelCard:
    """Read-modify-write the card under an exclusive lock, so that training and evaluations don't race."""
    folder = Path(folder)
    with _locked(folder):
        card = change(read(folder))
        write(folder, card)
    return card


def add_evaluation(folder: str | Path, record: dict) -> ModelCard:
    """Append one evaluation record to the card's ``evaluations``."""
    def change(card: ModelCard | None) -> ModelCard:
        card = card or ModelCard(name=Path(folder).name)
        card.evaluations.append(record)
        return card

    return update(folder, change)


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
