"""The label format, in one place: what a label row holds and what a model's output is shaped like.

A label row is ``[length, d1..d5]`` (``LABEL_WIDTH`` int8 values): the number of digits, then the digits
0-9 left to right, ``NO_DIGIT`` (10) where the number has no digit (SVHN's own "10 means 0" is fixed when a
row is made). A model returns ``N_HEADS`` softmax heads of ``N_CLASSES`` classes each: head 0 the length
(0-5 used, 6 = "more than five"), heads 1-5 the digit positions (0-9, 10 = no digit): ``OUTPUT_SHAPE``.

Pure Python + numpy: every layer (data, models, training, inference, dashboard) imports it freely.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

MAX_DIGITS = 5                       # the longest number a row (and a model) can hold
NO_DIGIT = 10                        # the class of an empty digit position
N_HEADS = 1 + MAX_DIGITS             # the length head, then one head per digit position
N_CLASSES = NO_DIGIT + 1             # digits 0-9 and "no digit" (the length head uses 0-6 of them)
LABEL_WIDTH = N_HEADS                # a label row has one entry per head
LABEL_DTYPE = np.int8
OUTPUT_SHAPE = (N_HEADS, N_CLASSES)  # one model output: (6, 11) probabilities


def digits_to_row(digits: Iterable[int]) -> np.ndarray:
    """The label row of a number given as its digits (0-9, left to right): ``[2, 1, 0] -> [3, 2, 1, 0, 10, 10]``."""
    ds = [int(d) for d in digits]
    if not 1 <= len(ds) <= MAX_DIGITS:
        raise ValueError(f"a label holds 1 to {MAX_DIGITS} digits, got {len(ds)}")
    if any(not 0 <= d < NO_DIGIT for d in ds):
        raise ValueError(f"digits must be 0-9, got {ds}")
    row = np.full(LABEL_WIDTH, NO_DIGIT, dtype=LABEL_DTYPE)
    row[0] = len(ds)
    row[1:1 + len(ds)] = ds
    return row


def boxes_to_row(boxes: Sequence[Any]) -> np.ndarray:
    """The label row of an annotated photo's digit boxes (``DigitBox``: ``.digit`` is 0-9, SVHN's 10 already
    read as 0). Digits past ``MAX_DIGITS`` are dropped but the length says how many there were; callers
    leave such photos out first (``preprocess.check_boxes``)."""
    row = np.full(LABEL_WIDTH, NO_DIGIT, dtype=LABEL_DTYPE)
    row[0] = len(boxes)
    for i, b in enumerate(boxes[:MAX_DIGITS]):
        row[1 + i] = b.digit
    return row


def row_to_number(row: Sequence[int] | np.ndarray) -> str:
    """The number a label row spells (``[3, 2, 1, 0, 10, 10] -> "210"``); digits only, stops at 'no digit'."""
    out = []
    for d in row[1:1 + max(0, int(row[0]))]:
        if int(d) >= NO_DIGIT:
            break
        out.append(str(int(d)))
    return "".join(out)
