"""From the model's 6 x 11 probabilities to the most probable whole number (pure numpy).

Row 0 of a probability array is the length head (classes 0-5 used, 6 = "more than five"), rows 1-5 the
digit positions (0-9, and 10 = "no digit"). Decoding scores each complete reading jointly:

    P(length=L) * prod_{i<=L} P_i(d_i) * prod_{i>L} P_i(no digit)

that is, the probability the six independent heads give to the full label row ``[L, d1..dL, 10, ...]``,
the very row the model was trained on with the plain summed loss. The "no digit" terms are included by
default because they carry evidence about the length (a confident digit at position 3 argues against
L=2). Models trained with the paper's masked loss never learn "no digit", so for them ``none_terms=False``
drops those factors (the card records which loss a model used). Lengths 1-5 are decoded; the store never
holds other lengths. The score of a reading is its confidence.
"""

from __future__ import annotations

import numpy as np

from svhn_api.labels import LABEL_DTYPE, LABEL_WIDTH, MAX_DIGITS, NO_DIGIT, OUTPUT_SHAPE, row_to_number

__all__ = ["argmax_rows", "decode_batch", "length_scores", "row_to_number", "top_digits", "topk"]

LENGTHS = np.arange(1, MAX_DIGITS + 1)


def _check(probs: np.ndarray) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[-2:] != OUTPUT_SHAPE:
        raise ValueError(f"probabilities must have shape (..., {OUTPUT_SHAPE[0]}, {OUTPUT_SHAPE[1]}), got {p.shape}")
    return p


def length_scores(probs: np.ndarray, none_terms: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Best reading per length: ``(scores (..., 5) for L=1..5, digits (..., 5) best digit per position)``.

    Positions are independent given the image, so the best digits for a length are the per-position
    argmax over 0-9 and the best reading overall is the best of the five lengths (exact, no search).
    """
    p = _check(probs)
    digit_p = p[..., 1:, :NO_DIGIT]
    best_digit = digit_p.argmax(-1)
    best_p = digit_p.max(-1)                                            # (..., 5)
    none_p = p[..., 1:, NO_DIGIT] if none_terms else np.ones_like(best_p)
    lead = np.cumprod(best_p, axis=-1)                                  # prod_{i<=L}
    tail = np.cumprod(none_p[..., ::-1], axis=-1)[..., ::-1]            # prod_{i>=L}
    tail = np.concatenate([tail[..., 1:], np.ones_like(tail[..., :1])], axis=-1)  # prod_{i>L}
    return p[..., 0, 1:1 + MAX_DIGITS] * lead * tail, best_digit


def decode_batch(probs: np.ndarray, none_terms: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised best reading of a batch ``(N, 6, 11)``: label rows ``(N, 6)`` int8 and confidences ``(N,)``."""
    scores, digits = length_scores(probs, none_terms)
    best = scores.argmax(-1)
    lengths = LENGTHS[best]
    rows = np.full((len(lengths), LABEL_WIDTH), NO_DIGIT, dtype=LABEL_DTYPE)
    rows[:, 0] = lengths
    mask = np.arange(MAX_DIGITS)[None, :] < lengths[:, None]
    rows[:, 1:] = np.where(mask, digits, NO_DIGIT)
    return rows, scores[np.arange(len(best)), best]


def top_digits(start: float, rows: np.ndarray, k: int) -> list[tuple[float, str]]:
    """The ``k`` best digit strings of independent positions, best first, as (score, digits): ``rows`` holds each
    position's scores of the digits 0-9 (``(L, 10)``), ``start`` multiplies every score. A beam of width ``k``
    is exact: the top-k products of independent factors always extend top-k prefixes (the one top-k decoder,
    for ``topk`` and ``digit_slots.combine``)."""
    beam: list[tuple[float, str]] = [(start, "")]
    for row in rows:
        beam = sorted(((s * float(row[d]), seq + str(d)) for s, seq in beam for d in range(NO_DIGIT)),
                      key=lambda b: -b[0])[:k]
    return beam


def topk(probs: np.ndarray, k: int = 5, none_terms: bool = True) -> list[tuple[str, float]]:
    """The ``k`` most probable whole readings of one ``(6, 11)`` array, best first, as (number, probability).

    Exact: the ``k`` best digits of each length (``top_digits``), then lengths are merged.
    """
    p = _check(probs)
    if p.ndim != 2:
        raise ValueError(f"topk takes one (6, 11) array, got {p.shape}")
    out: list[tuple[str, float]] = []
    for length in LENGTHS:
        beam = top_digits(float(p[0, length]), p[1:length + 1, :NO_DIGIT], k)
        tail = float(np.prod(p[length + 1:, NO_DIGIT])) if none_terms else 1.0
        out += [(seq, s * tail) for s, seq in beam]
    out.sort(key=lambda c: -c[1])
    return out[:k]


def argmax_rows(probs: np.ndarray) -> np.ndarray:
    """Per-head argmax (the capstone's reading): ``(N, 6)``; may be inconsistent, e.g. a 'no digit' inside."""
    return _check(probs).argmax(-1).astype(LABEL_DTYPE)
