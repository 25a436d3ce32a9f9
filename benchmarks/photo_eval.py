"""Whole-number accuracy on a list of photos with known numbers (real SVHN images, a user's own photos).

Unlike ``evaluate()``, which reads a prepared store, this goes through ``predict()`` exactly as a user
would: original photo in, optional number box, reading out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Box = tuple[float, float, float, float]


def evaluate_photos(images: Sequence[Any], numbers: Sequence[str], boxes: Sequence[Box | None] | None = None,
                    *, model: Any = None, data: dict[str, Any] | None = None, batch: int = 64,
                    record: bool = False) -> dict[str, Any]:
    """Accuracy of the model's readings of ``images`` against ``numbers``.

    ``data`` describes the images for the record (e.g. ``{"name": ..., "split": "test", "kind": "real SVHN",
    "crop": "ground-truth union box +30%"}``); with ``record`` the result is appended to the model card.
    """
    from svhn_api import paths
    from svhn_api.inference.predict import predict
    from svhn_api.models import card as cards
    from svhn_api.models import io as model_io

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
    report = {"model": paths.portable(lm.path), "data": {**(data or {}), "count": len(rows)},
              "metrics": {"whole_number_accuracy": round(right / len(rows), 6) if rows else None,
                          "correct": right, "count": len(rows)},
              "evaluated": cards.now(), "rows": rows}
    if record and lm.folder is not None and (lm.folder / cards.CARD).is_file():
        cards.add_evaluation(lm.folder, {k: v for k, v in report.items() if k != "rows"})
    return report


def annotated_photos(images_dir: str | Path, annotations: str | Path) -> tuple[list[Path], list[str], list[Box]]:
    """The PNG photos of a folder with their numbers and union boxes from an annotations JSON (a list of
    ``{filename, number, boxes: [{label, left, top, width, height}]}``, the layout of ``svhn-real``)."""
    from svhn_api.data.preprocess import union_box
    from svhn_api.data.records import DigitBox

    ann = {a["filename"]: a for a in json.loads(Path(annotations).read_text())}
    paths = sorted(Path(images_dir).glob("*.png"), key=lambda p: (len(p.stem), p.stem))
    numbers, boxes = [], []
    for p in paths:
        a = ann[p.name]
        numbers.append(a["number"])
        boxes.append(union_box([DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"])
                                for b in a["boxes"]]))
    return paths, numbers, boxes


def evaluate_real_svhn(root: str | Path, model: Any = None, record: bool = False) -> dict[str, dict[str, Any]]:
    """The three real-image measurements on a folder laid out like ``../shared/svhn-real``: the test photos
    with their ground-truth union box (+30%), the same photos whole, and the format-2 train digit crops."""
    import numpy as np

    from svhn_api import paths as locations

    root = Path(root)
    photos, numbers, boxes = annotated_photos(root / "images" / "test", root / "annotations" / "test.json")
    real = "real SVHN"
    where = os.path.relpath(root, locations.CHECKOUT or Path.cwd())
    name = f"real SVHN test photos ({len(photos)}: {', '.join(p.stem for p in photos[:3])}, ...)"
    out = {
        "test_gt_box": evaluate_photos(photos, numbers, boxes, model=model, record=record, data={
            "name": name, "path": f"{where}/images/test", "split": "test", "kind": real,
            "crop": "ground-truth union box expanded 30%"}),
        "test_full_image": evaluate_photos(photos, numbers, None, model=model, record=record, data={
            "name": name, "path": f"{where}/images/test", "split": "test", "kind": real,
            "crop": "full image, no box"}),
    }
    f2 = root / "format2" / "train_32x32_first1083.npz"
    if f2.is_file():
        with np.load(f2) as z:
            x, y = z["X"], z["y"]
        out["format2_train_digits"] = evaluate_photos(list(x), [str(int(v) % 10) for v in y], None, model=model,
                                                      record=record, data={
            "name": f"real SVHN format-2 32x32 digit crops of train images ({len(x)})",
            "path": f"{where}/format2/{f2.name}", "split": "train",
            "kind": real, "crop": "32x32 single-digit crop, read whole"})
    return out
