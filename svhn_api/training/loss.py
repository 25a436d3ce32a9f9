"""The sequence loss: one cross-entropy per head (length + five digit positions), in ``keras.ops``."""

from __future__ import annotations

from typing import Any

from svhn_api.backend import import_keras

LOSSES = ("sum", "masked")


def sequence_loss(labels: Any, logits: Any, kind: str = "sum") -> Any:
    """Per-example loss ``(B,)`` for label rows ``(B, 6)`` and logits ``(B, 6, 11)``: the six cross-entropies
    summed, or (``masked``, the paper's) the length and only the digit positions within the true length,
    so absent digits get no gradient."""
    ops = import_keras().ops
    if kind not in LOSSES:
        raise ValueError(f"loss {kind!r}: choose one of {', '.join(LOSSES)}")
    y = ops.cast(labels, "int32")
    ce = ops.sparse_categorical_crossentropy(y, ops.cast(logits, "float32"), from_logits=True)
    if kind == "masked":
        positions = ops.arange(ce.shape[-1], dtype="int32")[None, :]
        ce = ce * ops.cast(positions <= y[:, :1], ce.dtype)   # column 0 (length) always; digit i when i <= length
    return ops.sum(ce, axis=1)
