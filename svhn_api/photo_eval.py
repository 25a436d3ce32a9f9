"""Whole-number accuracy on a list of photos with known numbers (real SVHN images, a user's own photos).

Unlike ``evaluate()``, which reads a prepared store, this goes through ``predict()`` exactly as a user
would: original photo in, optional number box, reading out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Box = tuple[float, float, float, float]


def evaluate_photos(images: Sequence[Any], numbers: Sequence[str], boxes: Sequence[Box | None] | None = None,
                    *, model: Any = None, data: dict[str, Any] | None = None, batch: int = 64,
                    record: bool = False) -> dict[str, Any]:
    """Accuracy of the model's readings of ``images`` against ``numbers``.

    ``data`` describes the images for the record (e.g. ``{"name": ..., "split": "test", "kind": "real SVHN",
    "crop": "ground-truth union box +30%"}``); with ``record`` the result is appended to the model card.
    """
    from svhn_api import card as cards
    from svhn_api import model_io
    from svhn_api.predict import predict

    if len(images) != len(numbers) or (boxes is not None and len(boxes) != len(images)):
        raise ValueError("images, numbers and boxes must have the same length")
    lm = model_io.load(model)
    preds = []
    for i in range(0, len(images), batch):
        preds += predict(list(images[i:i + batch]), model=lm,
                         boxes=None if boxes is None else list(boxes[i:i + batch]))
    rows = [{"truth": t, "prediction": p.number, "confidence": round(p.confidence, 4), "correct": p.number == t}
            for t, p in zip(numbers, preds, strict=True)]
    right = sum(r["correct"] for r in rows)
    report = {"model": str(lm.path), "data": {**(data or {}), "count": len(rows)},
              "metrics": {"whole_number_accuracy": round(right / len(rows), 6) if rows else None,
                          "correct": right, "count": len(rows)},
              "evaluated": cards.now(), "rows": rows}
    if record and lm.folder is not None and lm.card is not None:
        cards.add_evaluation(lm.folder, {k: v for k, v in report.items() if k != "rows"})
    return report
