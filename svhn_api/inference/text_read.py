"""Readings of text crops by the pretrained SVTR + CTC recognizer (``models.scene_text``).

Pre-processing: each crop resized to ``HEIGHT`` pixels high at its aspect ratio (bilinear), scaled to
[-1, 1] and padded on the right to the batch's widest (at least ``MIN_WIDTH``: the width PaddleOCR pads to).
Post-processing: greedy CTC decoding (each step's most probable class; repeats merged, blanks dropped). The
recognizer reads thousands of characters; a house number is its digits, so a reading keeps its digits
(``TextReading.digits``, decoded over the digits alone) and says whether the unconstrained reading held anything
else (``letters``), which is evidence that the box is not a house number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from svhn_api.boxes import Box
from svhn_api.data.preprocess import rgb
from svhn_api.models.scene_text import SceneTextModel

HEIGHT = 48
MIN_WIDTH = 320
MAX_RATIO = 16        # crops wider than this many times their height are squeezed
BATCH = 16
PAD = 0.0             # the crop: the box grown this much of its height on each side (chosen on validation)


@dataclass(frozen=True)
class TextReading:
    """The recognizer's reading of one crop: ``text`` as read over every character, ``digits`` as read over the
    digits alone, ``score`` the mean probability of those digits (0 with none), ``letters`` whether ``text``
    holds characters other than digits and spaces."""

    text: str
    digits: str
    score: float
    letters: bool


def text_crop(img: Image.Image, box: Box, pad: float = PAD) -> Image.Image:
    """The box grown by ``pad`` of its height on each side, clipped to the photo."""
    left, top, w, h = box
    m = pad * h
    x0, y0 = max(0.0, left - m), max(0.0, top - m)
    x1, y1 = min(float(img.width), left + w + m), min(float(img.height), top + h + m)
    return rgb(img).crop((int(x0), int(y0), max(int(x0) + 1, int(math.ceil(x1))), max(int(y0) + 1, int(math.ceil(y1)))))


def recognizer_input(crops: Sequence[Image.Image]) -> np.ndarray:
    """The crops as one (N, 3, HEIGHT, W) float32 batch in [-1, 1], each padded on the right with zeros."""
    widths = [min(HEIGHT * MAX_RATIO, max(1, math.ceil(HEIGHT * c.width / max(c.height, 1)))) for c in crops]
    width = max(MIN_WIDTH, *widths)
    out = np.zeros((len(crops), 3, HEIGHT, width), dtype=np.float32)
    for i, (c, w) in enumerate(zip(crops, widths, strict=True)):
        arr = np.asarray(c.resize((w, HEIGHT), Image.Resampling.BILINEAR), dtype=np.float32)
        out[i, :, :, :w] = (arr / 255.0 - 0.5).transpose(2, 0, 1) / 0.5
    return out


def _greedy(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy CTC over (T, classes) probabilities (class 0 the blank): the classes kept and their probabilities."""
    best = probs.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    keep &= best != 0
    return best[keep], probs.max(axis=1)[keep]


def digit_classes(characters: Sequence[str]) -> np.ndarray:
    """The class indices of the ASCII digits 0-9 in ``characters`` (CTC classes, index 0 the blank)."""
    return np.array([i for i, c in enumerate(characters) if c.isascii() and c.isdigit()], dtype=int)


def ctc_decode(probs: np.ndarray, characters: Sequence[str], digits: np.ndarray | None = None) -> TextReading:
    """One (T, classes) probability sequence decoded twice: over every class (``text``, and whether it holds
    letters) and over the blank and the digits alone (``digits`` and ``score``: a digit the recognizer rates just
    under a look-alike letter, "1" under "I", is kept)."""
    kept, _ = _greedy(probs)
    text = "".join(characters[i] for i in kept)
    letters = any(not (c.isascii() and c.isdigit()) and c.strip() for c in text)
    digits = digit_classes(characters) if digits is None else digits
    sub, p = _greedy(probs[:, np.concatenate([[0], digits])])
    number = "".join(characters[digits[i - 1]] for i in sub)
    return TextReading(text, number, float(p.mean()) if len(p) else 0.0, letters)


def read_text(crops: Sequence[Image.Image], recognizer: SceneTextModel, batch: int = BATCH) -> list[TextReading]:
    """The recognizer's reading of each crop, in order; crops of similar width are batched together."""
    if recognizer.characters is None:
        raise ValueError(f"{recognizer.folder}: not a text recognizer")
    digits = digit_classes(recognizer.characters)
    order = sorted(range(len(crops)), key=lambda i: crops[i].width / max(crops[i].height, 1))
    out: list[TextReading | None] = [None] * len(crops)
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        probs = recognizer.run(recognizer_input([crops[i] for i in chunk]))
        for i, p in zip(chunk, probs, strict=True):
            out[i] = ctc_decode(p, recognizer.characters, digits)
    return [r for r in out if r is not None]
