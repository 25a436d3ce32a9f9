"""Optimizers and learning-rate schedules of the recipes (``models.kinds.Recipe``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from svhn_api.backend import import_keras

if TYPE_CHECKING:
    from svhn_api.models.kinds import Recipe

WARMUP_STEPS = 300


def make_optimizer(recipe: Recipe, lr: float | None = None) -> Any:
    keras = import_keras()
    rate = recipe.lr if lr is None else lr
    if recipe.optimizer == "adagrad":
        return keras.optimizers.Adagrad(rate, initial_accumulator_value=0.1)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, weight_decay=recipe.weight_decay or None)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=recipe.weight_decay)
    raise ValueError(f"optimizer {recipe.optimizer!r}")


def learning_rate(recipe: Recipe, peak: float, step: int, progress: float) -> float:
    """Rate at global ``step``; ``progress`` (0-1) is how far the run is (steps or time, whichever is further)."""
    if recipe.schedule == "constant":
        return peak
    if recipe.schedule == "step":
        return peak * recipe.decay ** (step // recipe.decay_steps)
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    return peak * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
