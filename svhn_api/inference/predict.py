"""predict(): read the house number in one or many images.

``predict(x)`` with one input (a path, bytes, a PIL image or a numpy array of any size and mode: HxW,
HxWx1, HxWx3, HxWx4, uint8/uint16/float) returns one ``Prediction``; with a list or tuple of inputs it
returns a list, in order (a 4-D array is not a batch: pass a list). ``boxes`` gives the number's region
(left, top, width, height) in original pixels: one box for a single input, one box (or None) per image for a list. The
region is expanded and cropped exactly as the training pipeline did (``preprocess.crop_union``). Without
a box, the localizer (``localizer=``; default ``paths.default_localizer()``) finds it in the whole photo and
``Prediction.box`` says where; with no localizer (or ``localizer=False``) the whole image is read. With no
``model`` the shipped default (``paths.default_model()``) is loaded once and cached in the process.

Inputs that cannot be read (not images, too many pixels, a bad box) raise ``ImageError`` naming the input
(``errors="raise"``, the default); with ``errors="return"`` every other input is still read and each bad
one gives a ``Prediction`` whose ``error`` holds that message (``number`` None). A box is 4 finite numbers
with positive width and height; one wholly outside its image is an error, one partly outside is clipped
to the image with a ``BoxWarning``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, overload

import numpy as np
from PIL import Image

from svhn_api import paths
from svhn_api.boxes import Box, as_box, clip
from svhn_api.data.images import input_name, load_image
from svhn_api.data.preprocess import crop_union
from svhn_api.errors import BoxWarning, ImageError, ModelError
from svhn_api.inference.decode import decode_batch, topk
from svhn_api.inference.digit_slots import combine, slot_requests
from svhn_api.inference.locate import SEARCH_BELOW, agreement, candidates, looks, search_windows
from svhn_api.labels import row_to_number
from svhn_api.models.digits import digit_crop
from svhn_api.models.io import load

__all__ = ["Prediction", "predict", "model_input"]
Errors = Literal["raise", "return"]
ERRORS = get_args(Errors)


@dataclass
class Prediction:
    """One image's reading. ``probabilities``: (6, 11), row 0 the length head, rows 1-5 the positions.

    An input that could not be read (``predict(..., errors="return")``) has ``error`` (the message, naming
    the input), ``number`` None, ``confidence`` 0 and ``probabilities`` None; ``ok`` tells them apart.
    """

    number: str | None
    confidence: float
    probabilities: np.ndarray | None = field(repr=False)
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    box: Box | None = None      # the region read (left, top, width, height pixels); None: the whole image
    located: bool = False       # True when the localizer found ``box`` (False: given, or the whole image)
    error: str | None = None    # why this input could not be read; None when it was read
    unsure: bool = False        # confidence under the reader card's calibrated threshold (``decode.unsure_below``)
    runtime: dict[str, str] = field(default_factory=dict)   # what ran each model: {"reader": "onnxruntime", ...}

    @classmethod
    def failed(cls, error: str) -> Prediction:
        """The result for an input that could not be read."""
        return cls(None, 0.0, None, error=error)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "confidence": float(self.confidence), "unsure": self.unsure,
                "box": None if self.box is None else [round(float(v), 1) for v in self.box], "located": self.located,
                "alternatives": [{"number": n, "probability": float(p)} for n, p in self.alternatives],
                "probabilities": None if self.probabilities is None
                else np.round(self.probabilities.astype(float), 6).tolist(),
                "error": self.error, "runtime": self.runtime}


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _check_box(box: Any, size: tuple[int, int], name: str, stacklevel: int = 2) -> Box:
    """``box`` as 4 floats (left, top, width, height) that overlap the image of ``size`` (width, height);
    ``ImageError`` naming the input otherwise. Partly outside: a ``BoxWarning`` (the crop is clipped)."""
    try:
        values = tuple(float(v) for v in box)
    except (TypeError, ValueError):
        raise ImageError(f"{name}: box {box!r} must be 4 numbers: left, top, width, height") from None
    if len(values) != 4:
        raise ImageError(f"{name}: box {box!r} has {len(values)} number{'' if len(values) == 1 else 's'}; "
                         "give 4: left, top, width, height")
    if not all(math.isfinite(v) for v in values):
        raise ImageError(f"{name}: box {_fmt(values)} holds a value that is not a finite number (NaN or "
                         "infinity); give 4 numbers: left, top, width, height")
    box = values
    if not (box[2] > 0 and box[3] > 0):
        raise ImageError(f"{name}: box {_fmt(values)} must be (left, top, width, height) with positive width "
                         "and height")
    inside = clip(box, size)
    if inside is None:
        raise ImageError(f"{name}: box {_fmt(values)} lies outside the {size[0]}x{size[1]} image; give the number's "
                         f"region inside it (left, top, width, height in pixels)")
    if box[0] < 0 or box[1] < 0 or box[0] + box[2] > size[0] or box[1] + box[3] > size[1]:
        warnings.warn(f"{name}: box {_fmt(values)} lies partly outside the {size[0]}x{size[1]} image; it is clipped "
                      f"to the image: {_fmt(inside)}", BoxWarning, stacklevel=stacklevel + 1)
    return box


def _crop(img: Image.Image, shape: tuple[int, int, int], box: Box | None, name: str) -> np.ndarray:
    try:
        arr = crop_union(img, box, size=shape[0])
    except ValueError as e:  # SkipImage: the box lies outside the image
        raise ImageError(f"{name}: {e}") from e
    if shape[2] == 1:
        arr = np.asarray(Image.fromarray(arr).convert("L"))[:, :, None]
    return arr


def model_input(source: Any, shape: tuple[int, int, int], box: Box | None = None, name: str | None = None,
                ) -> np.ndarray:
    """One input as the uint8 array the model reads: the (expanded) box or whole image at ``shape``.
    ``name`` names the input in errors (default: ``images.input_name(source)``)."""
    img = load_image(source)
    name = name or input_name(source)
    if box is not None:
        box = _check_box(box, img.size, name, stacklevel=2)
    return _crop(img, shape, box, name)


def _is_single(images: Any) -> bool:
    """Lists and tuples are many images; anything else (path, bytes, PIL image, array) is one."""
    return not isinstance(images, list | tuple)


def _box_list(items: list[Any], boxes: Any, single: bool) -> list[Any]:
    if boxes is None:
        return [None] * len(items)
    if single:
        return [boxes]
    box_list = list(boxes)
    if len(box_list) != len(items):
        raise ValueError(f"boxes: got {len(box_list)} boxes for {len(items)} images; give one per image")
    return box_list


def _labels(items: list[Any], names: Sequence[str | None] | None) -> list[str]:
    """What errors call each input: its given name, else ``images.input_name``."""
    if names is not None and len(names) != len(items):
        raise ValueError(f"names: got {len(names)} names for {len(items)} images; give one per image (or None)")
    given = list(names) if names is not None else [None] * len(items)
    return [name or input_name(x) for name, x in zip(given, items, strict=True)]


@overload
def predict(images: list[Any] | tuple[Any, ...], model: Any = None, boxes: Sequence[Box | None] | None = None,
            top: int = 5, localizer: Any = None, errors: Errors = "raise",
            names: Sequence[str | None] | None = None, search: bool = True, detector: Any = None,
            digits: Any = None) -> list[Prediction]: ...


@overload
def predict(images: Any, model: Any = None, boxes: Box | None = None, top: int = 5, localizer: Any = None,
            errors: Errors = "raise", names: Sequence[str | None] | None = None, search: bool = True,
            detector: Any = None, digits: Any = None) -> Prediction: ...


def predict(images: Any, model: Any = None, boxes: Sequence[Box | None] | Box | None = None,
            top: int = 5, localizer: Any = None, errors: Errors = "raise", names: Sequence[str | None] | None = None,
            search: bool = True, detector: Any = None, digits: Any = None) -> Prediction | list[Prediction]:
    """Read the number in one image (returns a ``Prediction``) or a list of images (returns a list).

    ``top``: how many readings to consider; ``alternatives`` holds the ``top - 1`` after the best.
    ``localizer``: a localizer model (folder, file or loaded) for images without a box; None: the default
    one if there is one; False: read such images whole.
    ``errors``: ``"raise"`` (an input that cannot be read raises ``ImageError`` naming it) or ``"return"``
    (every other input is read; a bad one gives a ``Prediction`` with ``error`` set and no ``number``).
    ``names``: what errors call each input (e.g. an upload's file name); default ``images.input_name``.
    ``detector``: a detector model (folder, file or loaded) whose candidates, and the localizer's box around
    each, are read beside the localizer's box from the whole photo; the candidate the readings agree on most
    wins (``locate``). None: the default one if there is one; False: the localizer alone.
    ``search``: when the detector offers no candidate and the reading of the localizer's box is unsure (under
    ``locate.SEARCH_BELOW``), look again from overlapping windows of the photo and keep the candidate the
    readings agree on; False: no such search (faster, worse on numbers small in the photo).
    ``digits``: a digit classifier (folder, file or loaded) that reads each digit slot of the box read, its
    evidence joined with the reader's (``inference.digit_slots``); None: the default one if there is one;
    False: the reader alone.
    """
    if errors not in ERRORS:
        raise ValueError(f"errors={errors!r}: choose 'raise' (a bad input raises ImageError) or 'return' "
                         "(a bad input gives a Prediction with its error)")
    single = _is_single(images)
    items = [images] if single else list(images)
    box_list = _box_list(items, boxes, single)
    if not items:
        return []
    labels = _labels(items, names)
    failed: dict[int, str] = {}

    def attempt(i: int, step: Any, *args: Any) -> Any:
        try:
            return step(*args)
        except ImageError as e:
            if errors == "raise":
                raise
            failed[i] = str(e)
            return None

    pictures: dict[int, Image.Image] = {}
    given: dict[int, Box] = {}
    for i, (x, b) in enumerate(zip(items, box_list, strict=True)):   # a loop: BoxWarning's stacklevel
        pic = attempt(i, load_image, x, labels[i])
        box = None if pic is None or b is None else attempt(i, _check_box, b, pic.size, labels[i], 3)
        if i not in failed:
            pictures[i] = pic
            if box is not None:
                given[i] = box
    readings: dict[int, Prediction] = {}
    if pictures:   # else nothing is readable, and the models (and Keras) are never loaded
        readings = _read_pictures(model, localizer, detector, digits, pictures, given, top, search,
                                  lambda i, shape, box: attempt(i, _crop, pictures[i], shape, box, labels[i]))
    out = [Prediction.failed(failed[i]) if i in failed else readings[i] for i in range(len(items))]
    return out[0] if single else out


def _read_pictures(model: Any, localizer: Any, detector: Any, digits: Any, pictures: dict[int, Image.Image],
                   given: dict[int, Box], top: int, search: bool, crop: Any) -> dict[int, Prediction]:
    """The readings of ``pictures`` (by position), each in its given box, else in the candidate box the
    readings agree on (``_locate``, ``_choose``; searching when the localizer's only box reads unsure), else
    whole; then joined with the digit classifier's; ``crop(i, shape, box)``: the model's input, or None when it
    cannot be made (the error is recorded by the caller)."""
    lm = _reader(model)
    finder, proposed = _locate({i: pic for i, pic in pictures.items() if i not in given}, localizer, detector)
    found, readings = _choose(lm, pictures, proposed, top)
    used = {i: given.get(i, found.get(i)) for i in pictures}
    arrays = {i: a for i, b in used.items() if i not in readings and (a := crop(i, lm.input_shape, b)) is not None}
    readings |= _read(lm, arrays, top)
    alone = {i: found[i] for i in found if len(proposed[i]) == 1}    # no detector candidate: search when unsure
    for i, (box, reading) in _search(lm, finder if search else None, pictures, alone, readings, top).items():
        found[i] = used[i] = box
        readings[i] = reading
    digits = digits if digits is not None else paths.default_digits()
    classifier = None
    if digits is not False and digits is not None:
        classifier = _model_for(digits, "classify", "pipelines.pretrained_digits (or False: the reader alone)")
        _with_digits(classifier, lm, {i: (pictures[i], used[i]) for i in readings}, readings, top)
    ran = {role: m.runtime for role, m in (("reader", lm), ("localizer", finder), ("digits", classifier))
           if m is not None}
    for i, r in readings.items():
        where_read = used[i]
        r.box, r.located = (None if where_read is None else as_box(where_read)), i in found
        r.runtime = ran
    return readings


def _with_digits(classifier: Any, lm: Any, where: dict[int, tuple[Image.Image, Box | None]],
                 readings: dict[int, Prediction], top: int) -> None:
    """Each reading joined with the digit classifier's readings of its box's slots (``digit_slots.combine``),
    in place: number, confidence, probabilities, alternatives and unsure flag (the classifier card's
    calibrated threshold)."""
    heads = {i: r.probabilities for i, r in readings.items() if r.probabilities is not None}
    keys = list(heads)
    boxes = []
    for i in keys:
        img, box = where[i]
        boxes.append((clip(box, img.size) if box is not None else None) or (0.0, 0.0, float(img.width),
                                                                              float(img.height)))
    requests = slot_requests([heads[i] for i in keys], boxes)
    if not requests:
        return
    probs = classifier.run(np.stack([digit_crop(where[keys[k]][0], s) for k, _, s in requests]))
    by_reading: dict[int, dict[int, list[np.ndarray]]] = {}
    for (k, length, _), p in zip(requests, probs, strict=True):
        by_reading.setdefault(k, {}).setdefault(length, []).append(p)
    threshold = classifier.card.decode.unsure_below
    for k, i in enumerate(keys):
        r = readings[i]
        r.probabilities, joined = combine(heads[i], {n: np.stack(v) for n, v in by_reading[k].items()},
                                          lm.none_terms, max(top, 1))
        (r.number, r.confidence), r.alternatives = joined[0], joined[1:top]
        r.unsure = threshold is not None and r.confidence < threshold


def _reader(model: Any) -> Any:
    """The loaded reader; a capstone-crop model is refused (``predict`` cannot make its crop)."""
    lm = load(model)
    crop = lm.card.input.crop
    if crop != "union":
        raise ModelError(f"{lm.path}: this model reads the 2016 capstone's {crop!r} crop (a strip of per-digit "
                         "boxes), which predict() cannot make from a photo and one number box; use a model "
                         "trained on a union-crop store, such as the shipped compact model")
    return lm


def _read(lm: Any, arrays: dict[int, np.ndarray], top: int) -> dict[int, Prediction]:
    """The model's reading of each prepared input, by position (one batch)."""
    if not arrays:
        return {}
    probs = lm.probabilities(np.stack(list(arrays.values())))
    rows, conf = decode_batch(probs, lm.none_terms)
    out = {}
    for i, p, row, c in zip(arrays, probs, rows, conf, strict=True):
        best = row_to_number(row)
        alts = [] if top <= 1 else [(n, s) for n, s in topk(p, top, lm.none_terms) if n != best][:top - 1]
        threshold = lm.card.decode.unsure_below
        out[i] = Prediction(best, float(c), p, alts, unsure=threshold is not None and float(c) < threshold)
    return out


def _locate(pictures: dict[int, Image.Image], localizer: Any, detector: Any) -> tuple[Any, dict[int, list[Box]]]:
    """The loaded localizer (None when photos are read whole) and the candidate boxes of ``pictures`` (those
    read and given no box), by position (``locate.candidates``: the localizer's, then two per detector
    candidate)."""
    if not pictures or localizer is False:
        return None, {}
    localizer = localizer if localizer is not None else paths.default_localizer()
    if localizer is None:
        return None, {}
    finder = _model_for(localizer, "locate", "--model localizer (or False to read the whole image)")
    detector = detector if detector is not None else paths.default_detector()
    spotter = (None if detector in (None, False) else
               _model_for(detector, "detect", "--model detector (or False: the localizer alone)"))
    return finder, dict(zip(pictures, candidates(list(pictures.values()), finder, spotter), strict=True))


def _choose(lm: Any, pictures: dict[int, Image.Image], proposed: dict[int, list[Box]], top: int,
            ) -> tuple[dict[int, Box], dict[int, Prediction]]:
    """Every candidate box read in one batch; for each photo the candidate the readings agree on most
    (``locate.agreement``) and its reading. A candidate that cannot be cropped is no candidate; a photo with
    none readable is left out (then it is read whole)."""
    flat = [(i, b) for i, boxes in proposed.items() for b in boxes]
    arrays: dict[int, np.ndarray] = {}
    for k, (i, box) in enumerate(flat):
        try:
            arrays[k] = _crop(pictures[i], lm.input_shape, box, "")
        except ImageError:
            continue
    read = _read(lm, arrays, top)
    found, readings = {}, {}
    for i in proposed:
        cands = [(b, read[k]) for k, (j, b) in enumerate(flat) if j == i and k in read]
        if cands:
            best = agreement([b for b, _ in cands], [r.number for _, r in cands], [r.confidence for _, r in cands])
            found[i], readings[i] = cands[best]
    return found, readings


def runtimes(model: Any = None, localizer: Any = None, digits: Any = None) -> dict[str, str]:
    """What runs each model ``predict`` uses with these arguments (``"onnxruntime"`` or ``"keras"``); loads them,
    from the cache when they already ran."""
    roles = {"reader": model, "localizer": paths.default_localizer() if localizer is None else localizer,
             "digits": paths.default_digits() if digits is None else digits}
    return {role: load(m).runtime for role, m in roles.items()
            if m is not False and (m is not None or role == "reader")}


KINDS = {"read": "reader", "locate": "localizer", "detect": "detector", "classify": "digit classifier"}


def _model_for(model: Any, task: str, how: str) -> Any:
    """The loaded ``model``, which must do ``task``; ``ModelError`` saying what it is instead and ``how`` to get one."""
    lm = load(model)
    if lm.task != task:
        raise ModelError(f"{lm.path}: a {KINDS[lm.task]}, not a {KINDS[task]}; give {KINDS[task]}= a model trained "
                         f"with {how}")
    return lm


def _search(lm: Any, finder: Any, pictures: dict[int, Image.Image], found: dict[int, Box],
            readings: dict[int, Prediction], top: int) -> dict[int, tuple[Box, Prediction]]:
    """For each photo of ``found`` whose box reads unsure (under ``SEARCH_BELOW``; none without ``finder``):
    candidate boxes from the search windows, all read in one batch; the candidate (the first box and reading
    among them) that the readings agree on most (``locate.agreement``)."""
    first = {i: (found[i], readings[i]) for i in found if i in readings and readings[i].confidence < SEARCH_BELOW}
    if finder is None or not first:
        return {}
    starts = [(i, w) for i in first for w in search_windows(pictures[i].size)]
    boxes = looks([(pictures[i], w) for i, w in starts], finder)
    arrays: dict[int, np.ndarray] = {}
    for k, ((i, _), box) in enumerate(zip(starts, boxes, strict=True)):
        try:
            arrays[k] = _crop(pictures[i], lm.input_shape, box, "")
        except ImageError:   # a candidate box outside the photo: not a candidate
            continue
    readings = _read(lm, arrays, top)
    out = {}
    for i, (box, reading) in first.items():
        cands = [(box, reading)] + [(boxes[k], readings[k]) for k, (j, _) in enumerate(starts)
                                    if j == i and k in readings]
        best = agreement([b for b, _ in cands], [r.number for _, r in cands], [r.confidence for _, r in cands])
        out[i] = cands[best]
    return out
