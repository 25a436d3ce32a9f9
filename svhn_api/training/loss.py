"""The losses, per example, in ``keras.ops``: the reader's sequence loss (one cross-entropy per head: length +
five digit positions), the localizer's box loss and the detector's map loss."""

from __future__ import annotations

from typing import Any, Literal, get_args

from svhn_api.backend import import_keras

Loss = Literal["sum", "masked"]   # the reader's: every head's cross-entropy summed, or the paper's masked sum
LOSSES: tuple[Loss, ...] = get_args(Loss)


def sequence_loss(labels: Any, logits: Any, kind: Loss = "sum") -> Any:
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


def box_loss(target: Any, box: Any) -> Any:
    """Per-example localizer loss ``(B,)``: L1 distance of the four ``(left, top, right, bottom)`` fractions
    plus ``1 - IoU`` (the IoU term keeps small boxes as important as large ones)."""
    ops = import_keras().ops
    t, b = ops.cast(target, "float32"), ops.cast(box, "float32")
    iw = ops.maximum(ops.minimum(t[:, 2], b[:, 2]) - ops.maximum(t[:, 0], b[:, 0]), 0.0)
    ih = ops.maximum(ops.minimum(t[:, 3], b[:, 3]) - ops.maximum(t[:, 1], b[:, 1]), 0.0)
    inter = iw * ih
    area_t = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    area_b = ops.maximum(b[:, 2] - b[:, 0], 0.0) * ops.maximum(b[:, 3] - b[:, 1], 0.0)
    iou = inter / ops.maximum(area_t + area_b - inter, 1e-6)
    return ops.sum(ops.abs(t - b), axis=1) + (1.0 - iou)


def map_loss(target: Any, logits: Any) -> Any:
    """Per-example detector loss ``(B,)`` for ``(B, h, w)`` 0/1 cell maps and logits: the mean binary
    cross-entropy of the cells plus ``1 - Dice`` of the map (the Dice term keeps a number that covers a few
    cells of a large photo as important as one that fills it; an empty target map adds only its false alarms)."""
    ops = import_keras().ops
    t, z = ops.cast(target, "float32"), ops.cast(logits, "float32")
    bce = ops.mean(ops.binary_crossentropy(t, z, from_logits=True), axis=(1, 2))
    p = ops.sigmoid(z)
    inter = ops.sum(p * t, axis=(1, 2))
    total = ops.sum(p, axis=(1, 2)) + ops.sum(t, axis=(1, 2))
    dice = (2.0 * inter + 1.0) / (total + 1.0)
    return bce + (1.0 - dice)
