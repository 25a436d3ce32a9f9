"""The full pipeline's third stage: which candidate's reading to answer, and why.

Each candidate box has been read twice, by the project's reader (joined with the digit classifier) and by the
pretrained scene-text recognizer: two models trained on different data, whose mistakes rarely coincide. The
rule, chosen on the real validation photos (plain and re-framed; see docs/experiments.md):

1. ``agreement``: candidates whose two readings are the same number (and whose recognizer reading holds no
   letters); the one whose readers are the most confident together wins. ``corroborated`` when another box
   agrees on the same number too: two proposals and two readers behind one answer, the surest kind.
2. ``recognizer``: else, when the reader is unsure of the first candidate (under ``READER_UNSURE``), the
   recognizer's most confident digits-only reading of any candidate, if it reaches ``RECOGNIZER_MIN``.
3. ``reader``: else the reader's reading of the first candidate (the fast path's answer).

The evidence behind the answer is a log-odds sum (``evidence``); ``calibration`` turns it into the
confidence users see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from svhn_api.boxes import Box
from svhn_api.inference.text_read import TextReading

Reason = Literal["corroborated", "agreement", "recognizer", "reader"]
REASONS: tuple[Reason, ...] = ("corroborated", "agreement", "recognizer", "reader")
READER_UNSURE = 0.99
RECOGNIZER_MIN = 0.7
CLIP = 1e-12          # probabilities are clipped to [CLIP, 1 - CLIP] before log-odds: float noise near 1 is moot


@dataclass(frozen=True)
class Candidate:
    """One candidate box and both readings of it."""

    box: Box
    source: str                 # "given", "localizer", "search", "text-detector", "text-detector, joined"
    number: str | None          # the reader's (with the digit classifier)
    confidence: float           # ... and its probability
    text: TextReading           # the scene-text recognizer's

    @property
    def agree(self) -> bool:
        return bool(self.number) and self.number == self.text.digits and not self.text.letters

    def to_dict(self) -> dict[str, Any]:
        return {"box": [round(float(v), 1) for v in self.box], "source": self.source,
                "reader": {"number": self.number, "confidence": round(float(self.confidence), 6)},
                "recognizer": {"text": self.text.text, "digits": self.text.digits,
                               "score": round(self.text.score, 6), "letters": self.text.letters},
                "agree": self.agree}


@dataclass(frozen=True)
class Choice:
    """The answer: the candidate it came from (its index), the number, why it won and the evidence for it."""

    index: int
    number: str | None
    reason: Reason
    evidence: float

    def why(self, candidates: Sequence[Candidate]) -> str:
        c = candidates[self.index]
        if self.reason in ("agreement", "corroborated"):
            also = sum(d.agree and d.number == self.number for d in candidates) - 1
            return (f"both readers read {self.number} in the {c.source} box (reader {c.confidence:.3f}, "
                    f"recognizer {c.text.score:.2f})" + (f", and in {also} other box{'es' if also > 1 else ''}"
                                                        if also else ""))
        if self.reason == "recognizer":
            return (f"the reader was unsure of the first box, and the recognizer read {self.number} in the "
                    f"{c.source} box (score {c.text.score:.2f})")
        return "no candidate's readings agreed and the recognizer was not confident: the reader's reading of the " \
               f"{c.source} box"


def log_odds(p: float) -> float:
    p = min(max(float(p), CLIP), 1 - CLIP)
    return math.log(p / (1 - p))


def choose(candidates: Sequence[Candidate]) -> Choice:
    """The rule above over one photo's candidates (the first is the reference: the given or the fast path's box)."""
    if not candidates:
        raise ValueError("choose needs at least one candidate")
    agreeing = [i for i, c in enumerate(candidates) if c.agree]
    if agreeing:
        i = max(agreeing, key=lambda k: candidates[k].confidence + candidates[k].text.score)
        c = candidates[i]
        boxes = sum(candidates[k].number == c.number for k in agreeing)
        return Choice(i, c.number, "corroborated" if boxes > 1 else "agreement",
                      log_odds(c.confidence) + log_odds(c.text.score))
    first = candidates[0]
    if first.confidence < READER_UNSURE:
        texts = [i for i, c in enumerate(candidates)
                 if c.text.digits and not c.text.letters and c.text.score >= RECOGNIZER_MIN]
        if texts:
            i = max(texts, key=lambda k: candidates[k].text.score)
            return Choice(i, candidates[i].text.digits, "recognizer", log_odds(candidates[i].text.score))
    return Choice(0, first.number, "reader", log_odds(first.confidence))
