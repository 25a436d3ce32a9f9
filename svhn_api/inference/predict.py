"""predict(): read the house number in one or many images.

``predict(x)`` with one input (a path, bytes, a PIL image or a numpy array of any size and mode: HxW,
HxWx1, HxWx3, HxWx4, uint8/uint16/float) returns one ``Prediction``; with a list or tuple of inputs it
returns a list, in order (a 4-D array is not a batch: pass a list). ``boxes`` gives the number's region
(left, top, width, height) in original pixels: one box for a single input, one box (or None) per image for a list. The
region is expanded and cropped exactly as the training pipeline did (``preprocess.crop_union``). Without
a box, the localizer (``localizer=``; default ``paths.default_localizer()``) finds it in the whole photo and
``Prediction.box`` says where; with no localizer (or ``localizer=False``) the whole image is read. With no
``model`` the shipped default (``paths.default_model()``) is loaded once and cached in the process. Inputs
that are not images raise ``ImageError`` naming the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from svhn_api import paths
from svhn_api.data.images import input_name, load_image
from svhn_api.data.preprocess import crop_union
from svhn_api.errors import ImageError, ModelError
from svhn_api.inference.decode import decode_batch, topk
from svhn_api.inference.locate import locate
from svhn_api.labels import row_to_number
from svhn_api.models.io import load

__all__ = ["Prediction", "predict", "model_input"]
Box = tuple[float, float, float, float]


@dataclass
class Prediction:
    """One image's reading. ``probabilities``: (6, 11), row 0 the length head, rows 1-5 the positions."""

    number: str
    confidence: float
    probabilities: np.ndarray = field(repr=False)
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    box: Box | None = None      # the region read (left, top, width, height pixels); None: the whole image
    located: bool = False       # True when the localizer found ``box`` (False: given, or the whole image)

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "confidence": float(self.confidence),
                "box": None if self.box is None else [round(float(v), 1) for v in self.box], "located": self.located,
                "alternatives": [{"number": n, "probability": float(p)} for n, p in self.alternatives],
                "probabilities": np.round(self.probabilities.astype(float), 6).tolist()}


def model_input(source: Any, shape: tuple[int, int, int], box: Box | None = None, name: str | None = None,
                ) -> np.ndarray:
    """One input as the uint8 array the model reads: the (expanded) box or whole image at ``shape``.
    ``name`` names the input in errors (default: ``images.input_name(source)``)."""
    img = load_image(source)
    name = name or input_name(source)
    if box is not None:
        try:
            box = tuple(float(v) for v in box)  # type: ignore[assignment]
        except (TypeError, ValueError):
            raise ImageError(f"{name}: box {box!r} must be (left, top, width, height)") from None
        if len(box) != 4 or not (box[2] > 0 and box[3] > 0):
            raise ImageError(f"{name}: box {box!r} must be (left, top, width, height) with "
                             "positive width and height")
    try:
        arr = crop_union(img, box, size=shape[0])
    except ValueError as e:  # SkipImage: the box lies outside the image
        raise ImageError(f"{name}: {e}") from e
    if shape[2] == 1:
        arr = np.asarray(Image.fromarray(arr).convert("L"))[:, :, None]
    return arr


def _is_single(images: Any) -> bool:
    """Lists and tuples are many images; anything else (path, bytes, PIL image, array) is one."""
    return not isinstance(images, list | tuple)


def predict(images: Any, model: Any = None, boxes: Sequence[Box | None] | Box | None = None,
            top: int = 5, localizer: Any = None) -> Prediction | list[Prediction]:
    """Read the number in one image (returns a ``Prediction``) or a list of images (returns a list).

    ``top``: how many readings to consider; ``alternatives`` holds the ``top - 1`` after the best.
    ``localizer``: a localizer model (folder, file or loaded) for images without a box; None: the default
    one if there is one; False: read such images whole.
    """
    lm = load(model)
    crop = lm.card.input.crop
    if crop != "union":
        raise ModelError(f"{lm.path}: this model reads the 2016 capstone's {crop!r} crop (a strip of per-digit "
                         "boxes), which predict() cannot make from a photo and one number box; use a model "
                         "trained on a union-crop store, such as the shipped compact model")
    single = _is_single(images)
    items = [images] if single else list(images)
    if boxes is None:
        box_list: list[Any] = [None] * len(items)
    elif single:
        box_list = [boxes]
    else:
        box_list = list(boxes)  # type: ignore[arg-type]
        if len(box_list) != len(items):
            raise ValueError(f"boxes: got {len(box_list)} boxes for {len(items)} images; give one per image")
    if not items:
        return []
    pictures = [load_image(x) for x in items]
    found = _locate(pictures, box_list, localizer)
    used = [b if b is not None else found.get(i) for i, b in enumerate(box_list)]
    batch = np.stack([model_input(x, lm.input_shape, b, name=input_name(src))
                      for x, b, src in zip(pictures, used, items, strict=True)])
    probs = lm.probabilities(batch)
    rows, conf = decode_batch(probs, lm.none_terms)
    out = []
    for i, (p, row, c) in enumerate(zip(probs, rows, conf, strict=True)):
        alts = topk(p, top, lm.none_terms)
        best = row_to_number(row)
        box = None if used[i] is None else tuple(float(v) for v in used[i])
        out.append(Prediction(best, float(c), p, [(n, s) for n, s in alts if n != best][:max(0, top - 1)],
                              box, i in found))  # type: ignore[arg-type]
    return out[0] if single else out


def _locate(pictures: list[Image.Image], boxes: list[Any], localizer: Any) -> dict[int, Box]:
    """The localizer's boxes for the pictures given no box, by position."""
    todo = [i for i, b in enumerate(boxes) if b is None]
    if not todo or localizer is False:
        return {}
    if localizer is None:
        localizer = paths.default_localizer()
        if localizer is None:
            return {}
    finder = load(localizer)
    if finder.task != "locate":
        raise ModelError(f"{finder.path}: a reader, not a localizer; give localizer= a model trained with "
                         "--model localizer (or False to read the whole image)")
    return dict(zip(todo, locate([pictures[i] for i in todo], finder), strict=True))
