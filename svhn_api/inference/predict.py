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

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar, get_args, overload

import numpy as np
from PIL import Image

from svhn_api import paths
from svhn_api.boxes import Box, NotABox, as_box, checked, clip, scaled
from svhn_api.data.images import ImageSource, input_name, load_image, original_size
from svhn_api.data.preprocess import crop_union
from svhn_api.errors import BoxWarning, ImageError, ModelError
from svhn_api.inference import calibration
from svhn_api.inference.choose import Candidate, Reason, choose
from svhn_api.inference.decode import decode_batch, topk
from svhn_api.inference.digit_slots import combine, in_doubt, lengths_tried, slot_requests
from svhn_api.inference.locate import SEARCH_BELOW, agreement, candidates, looks, search_windows
from svhn_api.inference.propose import propose
from svhn_api.inference.text_detect import text_boxes
from svhn_api.inference.text_read import read_text, text_crop
from svhn_api.labels import row_to_number
from svhn_api.models import scene_text
from svhn_api.models.digits import digit_crop
from svhn_api.models.io import LoadedModel, ModelOption, ModelSource, load
from svhn_api.models.kinds import NAMES

__all__ = ["Prediction", "predict", "predict_decoded", "model_input", "PIPELINES"]
Errors = Literal["raise", "return"]
Pipeline = Literal["full", "fast"]
PIPELINES: tuple[Pipeline, ...] = get_args(Pipeline)
AnyImage = TypeVar("AnyImage", bound=ImageSource)   # a list of paths, or of PIL images, ... is many images
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
    alternatives: list[tuple[str, float]] = field(default_factory=list)   # the reader's, with its probabilities
    box: Box | None = None      # the region read (left, top, width, height pixels); None: the whole image
    located: bool = False       # True when the localizer found ``box`` (False: given, or the whole image)
    error: str | None = None    # why this input could not be read; None when it was read
    unsure: bool = False        # fast path: confidence under the card's calibrated threshold; full: ``calibration``
    runtime: dict[str, str] = field(default_factory=dict)   # what ran each model: {"reader": "onnxruntime", ...}
    pipeline: Pipeline = "fast"   # "full": the scene-text models proposed, read and chose too; "fast": ours alone
    candidates: list[Candidate] = field(default_factory=list)   # the full pipeline's boxes and both readings
    chosen_by: Reason | None = None   # why the full pipeline answered this (``choose``); None on the fast path
    why: str | None = None            # ... in words

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
                "error": self.error, "runtime": self.runtime, "pipeline": self.pipeline,
                "chosen_by": self.chosen_by, "why": self.why,
                "candidates": [c.to_dict() for c in self.candidates]}

    def row(self, image: str) -> dict[str, Any]:
        """The fields ``predict --json`` prints and ``svhn serve`` answers for one input: its name, then
        ``to_dict()``."""
        return {"image": image, **self.to_dict()}


@dataclass(eq=False)   # hashed by identity: a batch's readings are grouped by input
class _Input:
    """One input of ``predict`` and what each step learns of it, in order: the picture and the given box
    (checked), the candidate boxes (``_locate``), the one found (``_choose``, ``_search``), its reading, or why it
    could not be read."""

    label: str                      # what errors call the input
    picture: Image.Image | None = None
    given: Box | None = None
    candidates: list[Box] = field(default_factory=list)
    found: Box | None = None
    source: str = "localizer"       # what found ``found``: the localizer, or the search
    reading: Prediction | None = None
    error: str | None = None
    scale: tuple[float, float] = (1.0, 1.0)   # from the picture's pixels to the photo's (a reduced working copy)

    @property
    def box(self) -> Box | None:
        """The box read: the given one, else the one found; None: the whole picture."""
        return self.given if self.given is not None else self.found

    def in_photo(self, box: Box) -> Box:
        """``box`` (in the picture's pixels) in the original photo's pixels."""
        return box if self.scale == (1.0, 1.0) else scaled(box, *self.scale)

    @property
    def image(self) -> Image.Image:
        """The picture, for the steps after loading (they see only the inputs that loaded)."""
        if self.picture is None:
            raise ValueError(f"{self.label}: not loaded")
        return self.picture

    @contextmanager
    def recording(self, errors: Errors) -> Iterator[None]:
        """An ``ImageError`` in the block is raised (``errors="raise"``) or kept as this input's ``error``."""
        try:
            yield
        except ImageError as e:
            if errors == "raise":
                raise
            self.error = str(e)

    def result(self) -> Prediction:
        """What ``predict`` returns for this input: its reading, else the failed one with its error."""
        return self.reading if self.reading is not None else Prediction.failed(self.error or f"{self.label}: not read")


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _check_box(box: Any, size: tuple[int, int], name: str, stacklevel: int = 2) -> Box:
    """``box`` as a box (``boxes.checked``) that overlaps the image of ``size`` (width, height); ``ImageError``
    naming the input otherwise. Partly outside: a ``BoxWarning`` (the crop is clipped)."""
    try:
        box = checked(box)
    except NotABox as e:
        shown = repr(box) if e.numbers is None else _fmt(e.numbers)
        raise ImageError(f"{name}: box {shown} {e}; give 4 numbers: left, top, width, height") from None
    inside = clip(box, size)
    if inside is None:
        raise ImageError(f"{name}: box {_fmt(box)} lies outside the {size[0]}x{size[1]} image; give the number's "
                         f"region inside it (left, top, width, height in pixels)")
    if box[0] < 0 or box[1] < 0 or box[0] + box[2] > size[0] or box[1] + box[3] > size[1]:
        warnings.warn(f"{name}: box {_fmt(box)} lies partly outside the {size[0]}x{size[1]} image; it is clipped "
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


def model_input(source: ImageSource, shape: tuple[int, int, int], box: Box | None = None, name: str | None = None,
                ) -> np.ndarray:
    """One input as the uint8 array the model reads: the (expanded) box or whole image at ``shape``.
    ``name`` names the input in errors (default: ``images.input_name(source)``)."""
    img = load_image(source)
    name = name or input_name(source)
    if box is not None:
        box = _check_box(box, img.size, name, stacklevel=2)
    return _crop(img, shape, box, name)


def _box_list(items: Sequence[ImageSource], boxes: Sequence[Box | None] | Box | None, single: bool) -> list[object]:
    """One box (unchecked: ``_check_box`` checks it) or None per input."""
    if boxes is None:
        return [None] * len(items)
    if single:
        return [boxes]
    box_list: list[object] = list(boxes)
    if len(box_list) != len(items):
        raise ValueError(f"boxes: got {len(box_list)} boxes for {len(items)} images; give one per image")
    return box_list


def _labels(items: Sequence[ImageSource], names: Sequence[str | None] | None) -> list[str]:
    """What errors call each input: its given name, else ``images.input_name``."""
    if names is not None and len(names) != len(items):
        raise ValueError(f"names: got {len(names)} names for {len(items)} images; give one per image (or None)")
    given = list(names) if names is not None else [None] * len(items)
    return [name or input_name(x) for name, x in zip(given, items, strict=True)]


@overload
def predict(images: list[AnyImage] | tuple[AnyImage, ...], model: ModelSource | None = None,
            boxes: Sequence[Box | None] | None = None, top: int = 5, localizer: ModelOption = None,
            errors: Errors = "raise", names: Sequence[str | None] | None = None, search: bool = True,
            detector: ModelOption = None, digits: ModelOption = None,
            pipeline: Pipeline | None = None) -> list[Prediction]: ...


@overload
def predict(images: ImageSource, model: ModelSource | None = None, boxes: Box | None = None, top: int = 5,
            localizer: ModelOption = None, errors: Errors = "raise", names: Sequence[str | None] | None = None,
            search: bool = True, detector: ModelOption = None, digits: ModelOption = None,
            pipeline: Pipeline | None = None) -> Prediction: ...


def predict(images: ImageSource | list[AnyImage] | tuple[AnyImage, ...], model: ModelSource | None = None,
            boxes: Sequence[Box | None] | Box | None = None, top: int = 5, localizer: ModelOption = None,
            errors: Errors = "raise", names: Sequence[str | None] | None = None, search: bool = True,
            detector: ModelOption = None, digits: ModelOption = None,
            pipeline: Pipeline | None = None) -> Prediction | list[Prediction]:
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
    ``pipeline``: ``"full"`` (the default when the scene-text models are installed: the fast path's box, the
    text detector's boxes and their line pairs (``propose``) are each read by the reader and by the scene-text
    recognizer, the answer chosen by agreement (``choose``), its confidence and ``unsure`` from the calibration
    fitted on the real validation photos (``calibration``)) or ``"fast"`` (the reader, localizer and digit
    classifier alone: several times faster, worse on numbers small in the photo). ``Prediction.pipeline`` says
    which ran.
    """
    if errors not in ERRORS:
        raise ValueError(f"errors={errors!r}: choose 'raise' (a bad input raises ImageError) or 'return' "
                         "(a bad input gives a Prediction with its error)")
    if pipeline is not None and pipeline not in PIPELINES:
        raise ValueError(f"pipeline={pipeline!r}: choose 'full' (with the scene-text models) or 'fast' (ours alone)")
    items: list[ImageSource] = list(images) if isinstance(images, list | tuple) else [images]
    single = not isinstance(images, list | tuple)   # anything else (path, bytes, PIL image, array) is one image
    box_list = _box_list(items, boxes, single)
    if not items:
        return []
    inputs = [_Input(label) for label in _labels(items, names)]
    for one, x, box in zip(inputs, items, box_list, strict=True):   # a loop here: BoxWarning's stacklevel
        with one.recording(errors):
            picture = load_image(x, one.label, working=box is None)   # a box: read at full resolution
            size = original_size(picture)
            one.scale = (size[0] / picture.width, size[1] / picture.height)
            given = None if box is None else _check_box(box, size, one.label)
            one.given = None if given is None else scaled(given, 1 / one.scale[0], 1 / one.scale[1])
            one.picture = picture
    readable = [one for one in inputs if one.error is None]
    if readable:   # else nothing is readable, and the models (and Keras) are never loaded
        _read_inputs(readable, model, localizer, detector, digits, top, search, errors,
                     default_pipeline() if pipeline is None else pipeline)
    out = [one.result() for one in inputs]
    return out[0] if single else out


def predict_decoded(decoded: Sequence[Image.Image | str], names: Sequence[str],
                    boxes: Sequence[Box | None] | None = None, **options: Any) -> list[Prediction]:
    """``predict(errors="return")`` over inputs decoded beforehand (``images.decoded_or_error``, so that a bad
    input is known before any model loads): each message (a string) gives a failed ``Prediction``, each picture
    its reading, in order; ``options`` are ``predict``'s."""
    good = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
    readings = iter(predict([decoded[i] for i in good], boxes=None if boxes is None else [boxes[i] for i in good],
                            errors="return", names=[names[i] for i in good], **options) if good else [])
    return [Prediction.failed(d) if isinstance(d, str) else next(readings) for d in decoded]


def default_pipeline() -> Pipeline:
    """``"full"`` when both scene-text models are installed, else ``"fast"``."""
    kinds: tuple[scene_text.SceneTextKind, ...] = ("text-detector", "text-recognizer")
    return "full" if all(paths.default_scene_text(k) is not None for k in kinds) else "fast"


def _read_inputs(inputs: list[_Input], model: ModelSource | None, localizer: ModelOption, detector: ModelOption,
                 digits: ModelOption, top: int, search: bool, errors: Errors, pipeline: Pipeline) -> None:
    """Each input's reading: in its given box, else in the candidate box the readings agree on (``_locate``,
    ``_choose``; searching when the localizer's only box reads unsure), else whole; then joined with the digit
    classifier's. An input that cannot be cropped gets its error (``errors="raise"``: raised)."""
    lm = _reader(model)
    finder = _locate([one for one in inputs if one.given is None], localizer, detector)
    _choose(lm, [one for one in inputs if one.candidates], top)
    _read_given_or_whole(lm, [one for one in inputs if one.reading is None], top, errors)
    if search and finder is not None:   # no detector candidate: search when unsure
        _search(lm, finder, [one for one in inputs if one.found is not None and len(one.candidates) == 1], top)
    classifier = _digit_classifier(digits)
    if classifier is not None:
        _with_digits(classifier, lm, inputs, top)
    ran: dict[str, str] = {role: m.runtime for role, m in (("reader", lm), ("localizer", finder),
                                                          ("digits", classifier)) if m is not None}
    if pipeline == "full":
        ran |= _full(lm, classifier, inputs, top)
    for one in inputs:
        if (r := one.reading) is not None:
            r.box = None if one.box is None else as_box(one.in_photo(one.box))
            r.located, r.runtime = one.found is not None, ran
            r.candidates = [replace(c, box=one.in_photo(c.box)) for c in r.candidates]


def _read_given_or_whole(lm: LoadedModel, inputs: list[_Input], top: int, errors: Errors) -> None:
    """Each input read in its given box, else whole, in one batch; one that cannot be cropped gets its error
    (``errors="raise"``: raised)."""
    arrays, cropped = [], []
    for one in inputs:
        with one.recording(errors):
            arrays.append(_crop(one.image, lm.input_shape, one.box, one.label))
            cropped.append(one)
    for one, reading in zip(cropped, _read(lm, arrays, top), strict=True):
        one.reading = reading


def _digit_classifier(digits: ModelOption) -> LoadedModel | None:
    """The loaded digit classifier (``digits``, else the default one); None: the reader alone."""
    digits = digits if digits is not None else paths.default_digits()
    if digits is False or digits is None:
        return None
    return _model_for(digits, "classify", "pipelines.pretrained_digits (or False: the reader alone)")


def _with_digits(classifier: LoadedModel, lm: LoadedModel, inputs: list[_Input], top: int) -> None:
    """Each input's reading joined with the digit classifier's readings of its box's slots
    (``digit_slots.combine``; the second length's slots only where it is ``in_doubt``), in place: number,
    confidence, probabilities, alternatives and unsure flag (the classifier card's calibrated threshold)."""
    read = [(one, r, p) for one in inputs if (r := one.reading) is not None and (p := r.probabilities) is not None]
    boxes = [(clip(one.box, one.image.size) if one.box is not None else None)
             or (0.0, 0.0, float(one.image.width), float(one.image.height)) for one, _, _ in read]
    heads = [p for _, _, p in read]
    by_reading: dict[int, dict[int, np.ndarray]] = {}

    def classify(requests: list[tuple[int, int, Box]], index: Sequence[int]) -> None:
        if not requests:
            return
        probs = classifier.run(np.stack([digit_crop(read[index[k]][0].image, s) for k, _, s in requests]))
        grouped: dict[tuple[int, int], list[np.ndarray]] = {}
        for (k, length, _), p in zip(requests, probs, strict=True):
            grouped.setdefault((index[k], length), []).append(p)
        for (k, length), v in grouped.items():
            by_reading.setdefault(k, {})[length] = np.stack(v)

    classify(slot_requests(heads, boxes, slice(1)), range(len(read)))   # the most probable length first
    tried = [lengths_tried(p) for p in heads]
    doubt = [k for k, (p, lengths) in enumerate(zip(heads, tried, strict=True))
             if any(in_doubt(p, by_reading[k][lengths[0]], n, lm.none_terms, max(top, 1)) for n in lengths[1:])]
    classify(slot_requests([heads[k] for k in doubt], [boxes[k] for k in doubt], slice(1, None)), doubt)
    threshold = classifier.card.decode.unsure_below
    for k, (_, r, head) in enumerate(read):
        r.probabilities, joined = combine(head, by_reading[k], lm.none_terms, max(top, 1))
        (r.number, r.confidence), r.alternatives = joined[0], joined[1:top]
        r.unsure = threshold is not None and r.confidence < threshold


def _reader(model: ModelSource | None) -> LoadedModel:
    """The loaded reader; a capstone-crop model is refused (``predict`` cannot make its crop)."""
    lm = load(model)
    crop = lm.card.input.crop
    if crop != "union":
        raise ModelError(f"{lm.path}: this model reads the 2016 capstone's {crop!r} crop (a strip of per-digit "
                         "boxes), which predict() cannot make from a photo and one number box; use a model "
                         "trained on a union-crop store, such as the shipped compact model")
    return lm


def _read(lm: LoadedModel, arrays: list[np.ndarray], top: int) -> list[Prediction]:
    """The model's reading of each prepared input, in order (one batch)."""
    if not arrays:
        return []
    probs = lm.probabilities(np.stack(arrays))
    rows, conf = decode_batch(probs, lm.none_terms)
    threshold = lm.card.decode.unsure_below
    out = []
    for p, row, c in zip(probs, rows, conf, strict=True):
        best = row_to_number(row)
        alts = [] if top <= 1 else [(n, s) for n, s in topk(p, top, lm.none_terms) if n != best][:top - 1]
        out.append(Prediction(best, float(c), p, alts, unsure=threshold is not None and float(c) < threshold))
    return out


def _read_boxes(lm: LoadedModel, looked: list[tuple[_Input, Box]], top: int,
                ) -> dict[_Input, list[tuple[Box, Prediction]]]:
    """Each (input, box) read in one batch: the boxes and their readings by input, in order. A box that cannot
    be cropped (outside the photo) is no candidate."""
    arrays, kept = [], []
    for one, box in looked:
        try:
            arrays.append(_crop(one.image, lm.input_shape, box, ""))
        except ImageError:
            continue
        kept.append((one, box))
    out: dict[_Input, list[tuple[Box, Prediction]]] = {}
    for (one, box), reading in zip(kept, _read(lm, arrays, top), strict=True):
        out.setdefault(one, []).append((box, reading))
    return out


def _agreed(cands: list[tuple[Box, Prediction]]) -> tuple[Box, Prediction]:
    """The candidate (box, reading) the readings agree on most (``locate.agreement``)."""
    return cands[agreement([b for b, _ in cands], [r.number for _, r in cands], [r.confidence for _, r in cands])]


def _locate(inputs: list[_Input], localizer: ModelOption, detector: ModelOption) -> LoadedModel | None:
    """The loaded localizer (None when photos are read whole), having set the ``candidates`` of ``inputs``
    (those read and given no box; ``locate.candidates``: the localizer's, then two per detector candidate)."""
    if not inputs or localizer is False:
        return None
    localizer = localizer if localizer is not None else paths.default_localizer()
    if localizer is None:
        return None
    finder = _model_for(localizer, "locate", "--model localizer (or False to read the whole image)")
    detector = detector if detector is not None else paths.default_detector()
    spotter = (None if detector is None or detector is False else
               _model_for(detector, "detect", "--model detector (or False: the localizer alone)"))
    for one, boxes in zip(inputs, candidates([one.image for one in inputs], finder, spotter), strict=True):
        one.candidates = boxes
    return finder


def _choose(lm: LoadedModel, inputs: list[_Input], top: int) -> None:
    """Every candidate box of ``inputs`` read in one batch; each input's ``found`` box the candidate the readings
    agree on most (``locate.agreement``), with its reading. A candidate that cannot be cropped is no candidate;
    an input with none readable finds nothing (then it is read whole)."""
    looked = [(one, box) for one in inputs for box in one.candidates]
    for one, cands in _read_boxes(lm, looked, top).items():
        one.found, one.reading = _agreed(cands)


def runtimes(model: ModelSource | None = None, localizer: ModelOption = None, digits: ModelOption = None,
             scene_text: bool = False) -> dict[str, str]:
    """What runs each model ``predict`` uses with these arguments (``"onnxruntime"`` or ``"keras"``); loads them,
    from the cache when they already ran. ``scene_text``: the full pipeline's scene-text models too."""
    roles = {"reader": model, "localizer": paths.default_localizer() if localizer is None else localizer,
             "digits": paths.default_digits() if digits is None else digits}
    ran: dict[str, str] = {role: load(m).runtime for role, m in roles.items()
           if m is not False and (m is not None or role == "reader")}
    if scene_text:
        ran |= {kind: _scene_text(kind).runtime for kind in ("text-detector", "text-recognizer")}
    return ran


def _model_for(model: ModelSource, task: str, how: str) -> LoadedModel:
    """The loaded ``model``, which must do ``task``; ``ModelError`` saying what it is instead and ``how`` to get one."""
    lm = load(model)
    if lm.task != task:
        raise ModelError(f"{lm.path}: a {NAMES[lm.task]}, not a {NAMES[task]}; give {NAMES[task]}= a model trained "
                         f"with {how}")
    return lm


def _search(lm: LoadedModel, finder: LoadedModel, inputs: list[_Input], top: int) -> None:
    """For each input whose found box reads unsure (under ``SEARCH_BELOW``): candidate boxes from the search
    windows, all read in one batch; its found box and reading become the candidate (the first box and reading
    among them) that the readings agree on most (``locate.agreement``)."""
    first = [(one, box, r) for one in inputs
             if (box := one.found) is not None and (r := one.reading) is not None and r.confidence < SEARCH_BELOW]
    if not first:
        return
    starts = [(one, w) for one, _, _ in first for w in search_windows(one.image.size)]
    boxes = looks([(one.image, w) for one, w in starts], finder)
    read = _read_boxes(lm, [(one, box) for (one, _), box in zip(starts, boxes, strict=True)], top)
    for one, box, reading in first:
        one.found, one.reading = _agreed([(box, reading), *read.get(one, [])])
        if one.found is not box:
            one.source = "search"


def _scene_text(kind: scene_text.SceneTextKind) -> scene_text.SceneTextModel:
    """The installed scene-text model of ``kind``; ``ModelError`` saying how to get it or do without."""
    folder = paths.default_scene_text(kind)
    if folder is None:
        env = "SVHN_" + kind.upper().replace("-", "_")
        raise ModelError(f"the full pipeline needs the {kind} (artifacts/models/{kind}, or ${env}); make it with "
                         "`python -m pipelines.scene_text`, or read with pipeline='fast'")
    return scene_text.load(folder, kind)


def _full(lm: LoadedModel, classifier: LoadedModel | None, inputs: list[_Input], top: int) -> dict[str, str]:
    """The full pipeline over the inputs the fast path read: candidate boxes (``propose``), each read by the
    reader (with ``classifier``) and by the recognizer, one chosen (``choose``), its confidence and unsure flag
    from the calibration. Returns what ran the scene-text models."""
    detector, recognizer = _scene_text("text-detector"), _scene_text("text-recognizer")
    cal = calibration.read()
    todo = [one for one in inputs if one.reading is not None]
    found = iter(text_boxes([one.image for one in todo if one.given is None], detector))
    proposals = []
    for one in todo:
        whole = (0.0, 0.0, float(one.image.width), float(one.image.height))
        if one.given is not None:
            proposals.append([(clip(one.given, one.image.size) or whole, "given")])
        else:
            proposals.append(propose(one.found, one.source, next(found)) if one.found is not None
                             else [(whole, "whole photo"), *propose(None, "", next(found))])
    extra = [_Input(one.label, one.picture, given=box) for one, props in zip(todo, proposals, strict=True)
             for box, _ in props[1:]]
    _read_given_or_whole(lm, extra, top, "return")
    if classifier is not None:
        _with_digits(classifier, lm, extra, top)
    readings = iter(extra)
    texts = iter(read_text([text_crop(one.image, box) for one, props in zip(todo, proposals, strict=True)
                            for box, _ in props], recognizer))
    for one, props in zip(todo, proposals, strict=True):
        read = [one.reading] + [next(readings).reading for _ in props[1:]]
        cands = [Candidate(box, source, r.number if r else None, r.confidence if r else 0.0, next(texts))
                 for (box, source), r in zip(props, read, strict=True)]
        choice = choose(cands)
        base = read[choice.index] or one.reading
        assert base is not None
        mode: calibration.Mode = "whole photo" if one.given is None else "given box"
        confidence = cal.confidence(mode, choice.reason, choice.evidence) if cal is not None else 0.0
        alternatives = [(n, p) for n, p in [(base.number, base.confidence), *base.alternatives]
                        if n is not None and n != choice.number]   # the reader's, with its probabilities
        one.reading = Prediction(choice.number, confidence, base.probabilities, alternatives[:max(top - 1, 0)],
                                 unsure=cal is None or not cal.sure(mode, confidence), pipeline="full",
                                 candidates=cands,
                                 chosen_by=choice.reason, why=choice.why(cands))
        if one.given is None and cands[choice.index].source != "whole photo":
            one.found = cands[choice.index].box
    return {"text-detector": detector.runtime, "text-recognizer": recognizer.runtime}
