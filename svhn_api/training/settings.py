"""What a training run is asked to do (``TrainSettings``) and what it answers (``TrainResult``).

``train()``'s keyword arguments build one frozen ``TrainSettings``; the run resolves it once against the
store and the architecture's recipe (``resolved``), and from then on every step reads that one object. Its
``identity`` is the part that must match for a rerun to continue a run (recorded in the card as
``training.config``); the rest (time budget, progress, checkpoint interval...) may change between resumes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from svhn_api import paths
from svhn_api.training.loss import Loss


@dataclass(frozen=True)
class TrainSettings:
    """Every setting of ``train()`` but the data; see ``train`` for each one's meaning."""

    model: str = "compact"
    name: str | None = None
    epochs: int = 30
    batch_size: int | None = None
    seed: int = 0
    minutes: float | None = None
    loss: Loss = "sum"
    progress: bool = True
    root: str | Path | None = None
    augment: bool | None = None
    patience: int = 5
    checkpoint_minutes: float = 5.0
    limit: int | None = None
    val_limit: int | None = None
    lr: float | None = None
    fresh: bool = False
    jit: bool | None = None
    log_every: int = 50
    stop_after: int | None = None
    deterministic: bool = False
    init: str | Path | None = None
    devices: int | str | None = None
    onnx: bool = True

    def resolved(self, architecture: str, image_shape: tuple[int, ...], devices: int) -> TrainSettings:
        """The same settings with the recipe's batch size and learning rate and the augmentation default filled
        in; on ``devices`` > 1, the batch per device and the learning rate scaled by the count (the linear
        scaling rule)."""
        from svhn_api.models.kinds import recipe

        batch_size, lr = self.batch_size or recipe(architecture).batch_size, self.lr
        if devices > 1:
            batch_size, lr = batch_size * devices, (lr or recipe(architecture).lr) * devices
        augment = tuple(image_shape) == (64, 64, 3) if self.augment is None else self.augment
        return replace(self, model=architecture, batch_size=batch_size, lr=lr, augment=augment)

    def identity(self, data_sha256: str, devices: int) -> dict[str, Any]:
        """What must match for a rerun to continue the run (of resolved settings); the card's
        ``training.config``."""
        return {"architecture": self.model, "data_sha256": data_sha256, "loss": self.loss,
                "batch_size": self.batch_size, "seed": self.seed, "augment": self.augment, "limit": self.limit,
                "val_limit": self.val_limit, "lr": self.lr,
                "init": None if self.init is None else paths.portable(self.init),
                "devices": devices if devices > 1 else None}   # None: one device, as in cards before this setting

    @property
    def budget(self) -> float:
        """The training-time budget in seconds (infinite without ``minutes``)."""
        return self.minutes * 60 if self.minutes is not None else float("inf")


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` made: the model folder and its files, how the run ended and its best validation score."""

    folder: str
    model: str
    card: str
    architecture: str | None
    status: str | None
    epochs: int | None
    steps: int | None
    wall_seconds: float | None
    best_val_accuracy: float | None
    best_epoch: float | None
    resumed: bool
    onnx: str | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "note" or v is not None}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
