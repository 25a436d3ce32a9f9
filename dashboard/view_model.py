"""What the dashboard shows, as plain data: stores and models on disk, per-split statistics, sample grids with
their digit boxes drawn, and the original photo of any store row (read from its archive through an index).

Nothing here imports TensorFlow or Streamlit; the dashboard caches these results itself.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from dashboard import first_run, wording
from svhn_api import paths
from svhn_api.boxes import as_box, union
from svhn_api.data.photos import find_archive, original_photo
from svhn_api.data.preprocess import EXPAND, capstone_tiles, crop_capstone, crop_union, expanded_crop
from svhn_api.data.store import SPLITS, StoreInfo, read
from svhn_api.data.store import inspect as inspect_store
from svhn_api.errors import ArchiveError, BoxWarning, DataError, ImageError, ModelError
from svhn_api.inference.predict import model_input
from svhn_api.labels import MAX_DIGITS, NO_DIGIT, row_to_number
from svhn_api.models import card as cards
from svhn_api.models import kinds, provenance
from svhn_api.models.folder import ModelFolder
from svhn_api.records import DigitBox

REAL_STORE_NAME = "svhn_union.h5"

BOX_COLOURS = {"digit": (46, 204, 113), "union": (52, 152, 219), "expanded": (231, 76, 60)}


# ----------------------------------------------------------------------------------------- stores


@dataclass
class StoreEntry:
    """A prepared store found on disk, with a short label for a picker."""

    path: Path
    info: StoreInfo
    kind: str  # "real", "synthetic", "unverified", "mixed real and synthetic" (models.card.data_kind)

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.details})"

    @property
    def details(self) -> str:
        """What the store holds, e.g. "synthetic, union crop, 6,000 images" (the picker shows the name alone)."""
        return f"{self.kind}, {self.info.crop} crop, {sum(self.info.counts.values()):,} images"


def store_names(entries: Sequence[StoreEntry]) -> dict[str, str]:
    """A short name per store for a narrow picker: its file name, with its folder when two stores share one."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.path.name] = counts.get(e.path.name, 0) + 1
    return {str(e.path): e.path.name if counts[e.path.name] == 1 else f"{e.path.parent.name}/{e.path.name}"
            for e in entries}


def store_kind(info: StoreInfo) -> str:
    """``real`` for a store built from the official SVHN archives (by their checksums), else ``synthetic``."""
    return provenance.data_kind(info.attrs)


def _data_dir(data_dir: str | Path | None) -> Path:
    return paths.data_dir() if data_dir is None else Path(data_dir)


def list_stores(data_dir: str | Path | None = None) -> tuple[list[StoreEntry], list[str]]:
    """Every readable store under ``data_dir`` (default ``paths.data_dir()``; real SVHN first, ``svhn_union.h5``
    first of all, the first run's quick sample last) and, apart, one message per ``.h5`` file there that is not
    a complete store (a part file, an interrupted write)."""
    data_dir = _data_dir(data_dir)
    found, broken = [], []
    if data_dir.is_file():
        candidates = [data_dir]
    elif data_dir.is_dir():
        candidates = sorted(p for p in data_dir.rglob("*.h5")
                            if not any(part.endswith(".parts") for part in p.parts))
    else:
        candidates = []
    for p in candidates:
        try:
            info = inspect_store(p)
            found.append(StoreEntry(p, info, store_kind(info)))
        except DataError as e:
            broken.append(str(e))
    found.sort(key=lambda e: (e.kind != "real", e.path.name != REAL_STORE_NAME, first_run.is_quick(e.path),
                              str(e.path)))
    return found, broken


EVALUATION_COLUMNS = ("data", "crop", "whole-number accuracy", "split", "images", "mean IoU", "coverage at 98%",
                      "evaluated")


# the crops evaluations record, said shortly for a table column (the column's help says them in full)
CROP_SHORT = {"ground-truth union box expanded 30%": "ground-truth box +30%",
              "whole photo, number found by the localizer": "whole photo, localizer"}


def short_crop(crop: str) -> str:
    return next((short + crop[len(long):] for long, short in CROP_SHORT.items() if crop.startswith(long)), crop)


def split_label(data: dict[str, Any]) -> str:
    """An evaluation's split, saying so when its photos were held out of training as validation (the real
    validation photos are train-split photos: "train" alone reads as if it were trained on)."""
    split, name = str(data.get("split", "?")), str(data.get("name", "")).lower()
    held_out = "held out" in name or "validation" in name   # e.g. "validation photos zoomed out to ..."
    return f"{split} (held out as validation)" if held_out and split != "validation" else split


def evaluation_rows(card: cards.ModelCard) -> list[dict[str, Any]]:
    """The card's recorded evaluations as table rows (``EVALUATION_COLUMNS``): what was read and how, then
    how well."""
    rows = []
    for ev in card.evaluations:
        d, m = ev.get("data") or {}, ev.get("metrics") or {}
        if not isinstance(d, dict) or not isinstance(m, dict):
            continue
        acc, cov = m.get("whole_number_accuracy"), (m.get("coverage") or {}).get("coverage_at_98")
        iou = _scalar(m.get("mean_iou"))
        rows.append({"data": d.get("name") or f"{Path(str(d.get('path', '?'))).name} ({d.get('kind', '?')})",
                     "crop": short_crop(str(d.get("crop", "?"))),
                     "whole-number accuracy": "–" if acc is None else f"{100 * acc:.1f}%",
                     "split": split_label(d), "images": d.get("count"),
                     "mean IoU": "–" if iou is None else f"{iou:.3f}",
                     "coverage at 98%": "–" if cov is None else f"{100 * cov:.1f}%",
                     "evaluated": str(ev.get("evaluated", ""))[:10]})
    return rows


def evaluation_table(card: cards.ModelCard, last: int = 8) -> list[dict[str, Any]]:
    """The card's ``last`` recorded evaluations as table rows, less the columns no row fills (e.g. coverage at
    98%: ``evaluate --record`` records it, the whole-photo evaluations of ``inference.photo_eval`` do not)."""
    rows = evaluation_rows(card)[-last:]
    keep = [c for c in EVALUATION_COLUMNS if any(r[c] not in (None, "", "–") for r in rows)]
    return [{c: r[c] for c in keep} for r in rows]


STAGE_TITLES = {"source": "found by", "reason": "chosen by"}


def stage_rows(whole_photo: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A whole-photo evaluation's ``by_stage[key]`` (``"source"``: what found the chosen box; ``"reason"``: why it
    was chosen) as table rows, most photos first: the stage, its photos, how many read right and their share.
    Empty on the fast path."""
    stages = (whole_photo.get("by_stage") or {}).get(key) or {}
    return [{STAGE_TITLES[key]: name, "photos": v["count"], "read right": v["correct"],
             "share right": f"{100 * v['correct'] / v['count']:.1f}%" if v["count"] else "–"}
            for name, v in sorted(stages.items(), key=lambda kv: -kv[1]["count"])]


CHAR_PX, CELL_PAD_PX, LINE_PX, ROW_PAD_PX = 7, 16, 21, 8   # a table cell's text at 14 px (a wide estimate)
WRAP_ABOVE_PX = 64   # Streamlit's tables wrap their cells' text only in rows taller than this (4rem)


def lines_needed(text: str, width: int) -> int:
    """How many lines ``text`` takes, word-wrapped in a table cell ``width`` px wide (``CHAR_PX`` a character)."""
    import textwrap

    per_line = max(1, (width - CELL_PAD_PX) // CHAR_PX)
    return max(1, len(textwrap.wrap(str(text), per_line, break_long_words=True)))


def row_height(rows: Sequence[dict[str, Any]], widths: dict[str, int], max_lines: int = 4) -> int | None:
    """The row height (px) at which every cell of ``rows`` shows in full, its text wrapped in its column of
    ``widths`` (at most ``max_lines`` lines); None when one line is enough (the table's default)."""
    lines = max((lines_needed(r[c], w) for r in rows for c, w in widths.items() if c in r), default=1)
    if lines <= 1:
        return None
    return max(WRAP_ABOVE_PX + 1, ROW_PAD_PX + LINE_PX * min(lines, max_lines))


DEFAULT_ROW_PX, HEADER_PX = 35, 35   # Streamlit's table: one line of text a row, and the header


def table_height(n_rows: int, row_px: int | None) -> int:
    """The height (px) of a table showing ``n_rows`` rows of ``row_px`` (None: the default) with no scrolling."""
    return HEADER_PX + n_rows * (row_px or DEFAULT_ROW_PX) + 3


def card_task(card: cards.ModelCard) -> str:
    """``"read"`` (a reader), ``"locate"`` (a localizer), ``"detect"`` (a detector) or ``"classify"`` (a digit
    classifier), as the library tells it from the card (``models.io.card_task``); for a card that says nothing
    of it (a run just started), from its input: a localizer and a detector take the whole photo."""
    from svhn_api.models.io import card_task as task_of_card

    return task_of_card(card) or {"photo": "locate", "scene": "detect"}.get(card.input.crop, "read")


def _score(card: cards.ModelCard) -> kinds.Score:
    """What the run's ``val_accuracy`` measured: its kind's validation score (a reader's whole-number accuracy,
    a localizer's mean IoU, a detector's share of photos whose number it found); a kind not trained here (the
    digit classifier): plain accuracy."""
    return kinds.KINDS[card_task(card)].score or kinds.Score("accuracy", "accuracy")


def validation_metric(card: cards.ModelCard) -> str:
    return _score(card).name


def format_validation(card: cards.ModelCard, value: float) -> str:
    return _score(card).shown(value)


def best_validation(card: cards.ModelCard) -> str | None:
    """e.g. "best validation mean IoU 0.729 (epoch 32)", or None when the card records none."""
    tr = card.training
    if tr is None or _scalar(tr.best_val_accuracy) is None:
        return None
    assert tr.best_val_accuracy is not None   # _scalar of it is a number
    epoch = f" (epoch {tr.best_epoch:g})" if _scalar(tr.best_epoch) is not None else ""
    return f"best validation {validation_metric(card)} {format_validation(card, tr.best_val_accuracy)}{epoch}"


def training_facts(card: cards.ModelCard) -> list[str]:
    """One line of facts about how a model came to be: its training run here, or, for weights trained
    elsewhere (``training.status`` "pretrained"), where they come from."""
    tr, data = card.training or cards.TrainingRecord(), card.data
    arch = f"architecture {card.architecture_name or '?'}"
    if tr.status == "pretrained":
        source = data.get("pretrained") or {}
        origin = " ".join(str(source[k]) for k in ("package", "version") if source.get(k)) or "elsewhere"
        return [arch, f"pretrained by {origin}, not trained here" + (
            f" ({source['license']} license)" if source.get("license") else ""),
            f"on {data['crops']:,} {data.get('kind', '')} digit crops".replace("  ", " ") if data.get("crops")
            else f"on {data.get('kind', '?')} data"]
    facts = [arch, f"trained on {data.get('kind', '?')} data `{data.get('path', '?')}`", how_training_ended(tr),
             f"{tr.epochs_done} epochs" + (f" of {tr.epochs_planned}" if tr.epochs_planned else ""),
             f"{tr.steps} steps"]
    if tr.wall_seconds:
        facts.append(f"{tr.wall_seconds / 60:.1f} min")
    return facts


def how_training_ended(tr: cards.TrainingRecord) -> str:
    """Why the run stopped, from what it recorded: its epoch cap, early stopping, or its time budget.

    The epoch cap comes first: a run whose patience ran out on its last epoch is recorded as early stopped,
    but it had no epoch left anyway."""
    if tr.epochs_planned and tr.epochs_done >= tr.epochs_planned:
        return f"reached its {tr.epochs_planned}-epoch cap"
    if tr.status == "early stopped":
        return f"early stopped (no gain for {tr.patience} epochs)" if tr.patience else "early stopped"
    if tr.status == "time limit":
        return (f"stopped at its time budget ({tr.minutes_budget:g} min)" if _scalar(tr.minutes_budget)
                else "stopped at its time budget")
    if tr.status == "training":
        return "not finished (in progress, or interrupted: the same command resumes it)"
    return tr.status or "status not recorded"


def store_card(entry_or_path: StoreEntry | str | Path) -> dict[str, Any]:
    """The facts about a store worth showing: where, what kind, crop, counts, provenance, what was left out."""
    path = entry_or_path.path if isinstance(entry_or_path, StoreEntry) else Path(entry_or_path)
    info = inspect_store(path)
    left_out = info.attrs.get("left_out") or []
    return {
        "path": str(path), "kind": store_kind(info), "crop": info.crop,
        "image_shape": "x".join(str(s) for s in info.image_shape),
        "counts": info.counts, "total": sum(info.counts.values()),
        "created": info.attrs.get("created", ""), "library_version": info.attrs.get("version", ""),
        "archives_md5": info.attrs.get("archives") or {}, "validation_seed": info.attrs.get("validation_seed"),
        "left_out": len(left_out), "left_out_examples": left_out[:10],
    }


def store_stats(path: str | Path, max_sizes: int = 20000, seed: int = 0) -> dict[str, Any]:
    """Per split: row count, number-length counts (1-5), digit counts (0-9, every position) and image sizes
    (at most ``max_sizes`` (width, height) rows per split, sampled, for a scatter plot)."""
    info = inspect_store(path)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"counts": dict(info.counts), "lengths": {}, "digits": {}, "sizes": {},
                           "size_rows": {}}
    for split in SPLITS:
        if not info.counts.get(split):
            continue
        rows = read(path, split, fields=("labels", "sizes"))
        labels, sizes = rows["labels"].astype(np.int64), rows["sizes"]
        out["lengths"][split] = np.bincount(labels[:, 0], minlength=MAX_DIGITS + 1)[1:MAX_DIGITS + 1].tolist()
        digits = labels[:, 1:]
        out["digits"][split] = np.bincount(digits[digits < NO_DIGIT], minlength=NO_DIGIT)[:NO_DIGIT].tolist()
        out["size_rows"][split] = len(sizes)
        if len(sizes) > max_sizes:
            sizes = sizes[np.sort(rng.choice(len(sizes), max_sizes, replace=False))]
        out["sizes"][split] = sizes
    return out


def sample_indices(path: str | Path, split: str, n: int = 24, *, length: int | None = None,
                   seed: int = 0) -> np.ndarray:
    """``n`` random row numbers of ``split`` (relative to the split), only numbers of ``length`` digits if
    given, in increasing order."""
    lengths = read(path, split, fields=("lengths",))["lengths"]
    pool = np.arange(len(lengths)) if length is None else np.flatnonzero(lengths == length)
    if len(pool) <= n:
        return pool
    return np.sort(np.random.default_rng(seed).choice(pool, n, replace=False))


# ----------------------------------------------------------------------------------------- boxes


def boxes_of(row_boxes: np.ndarray, labels: np.ndarray | None = None) -> list[DigitBox]:
    """A store row's (5, 4) NaN-padded boxes as DigitBoxes (label from ``labels`` if given, else 0)."""
    out = []
    for i, b in enumerate(np.asarray(row_boxes, dtype=np.float64)):
        if np.isnan(b).any():
            continue
        digit = int(labels[1 + i]) if labels is not None and labels[1 + i] < 10 else 0
        out.append(DigitBox(10 if digit == 0 else digit, *map(float, b)))
    return out


def boxes_in_crop(boxes: Sequence[DigitBox], size: tuple[int, int], out_size: int,
                  expand: float = EXPAND) -> list[tuple[float, float, float, float]]:
    """Original-photo boxes mapped into the ``out_size`` square of the expanded union crop."""
    if not boxes:
        return []
    x0, y0, x1, y1 = expanded_crop(union(boxes), size, expand)
    sx, sy = out_size / (x1 - x0), out_size / (y1 - y0)
    return [((b.left - x0) * sx, (b.top - y0) * sy, b.width * sx, b.height * sy) for b in boxes]


def draw_boxes(img: Image.Image, boxes: Sequence[Sequence[float]], colour: tuple[int, int, int] = BOX_COLOURS[
        "digit"], width: int = 2, labels: Sequence[str] | None = None) -> Image.Image:
    """A copy of ``img`` (as RGB) with (left, top, width, height) rectangles drawn on it."""
    out = img.convert("RGB")
    draw = ImageDraw.Draw(out)
    for i, (left, top, w, h) in enumerate(boxes):
        draw.rectangle([left, top, left + w - 1, top + h - 1], outline=colour, width=width)
        if labels:
            draw.text((left + 2, top + 1), labels[i], fill=colour)
    return out


def upscale(a: np.ndarray | Image.Image, factor: int) -> Image.Image:
    """A small image enlarged with square pixels, so a 32x32 or 64x64 crop stays readable on screen."""
    img = a if isinstance(a, Image.Image) else Image.fromarray(np.asarray(a).squeeze())
    return img.convert("RGB").resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)


def rounded_box(box: Sequence[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A (left, top, width, height) box in whole pixels within a photo of ``size``, as a box form takes it
    (left and top inside the photo, width and height at least 1 and at most the photo's)."""
    w, h = size
    left, top = min(max(0, round(box[0])), w - 1), min(max(0, round(box[1])), h - 1)
    return left, top, min(max(1, round(box[2])), w), min(max(1, round(box[3])), h)


def photo_with_box(img: Image.Image, box: Sequence[float] | None, width: int = 720,
                   colour: tuple[int, int, int] = BOX_COLOURS["expanded"]) -> Image.Image:
    """``img`` resized to ``width`` pixels across (small photos enlarged) with ``box`` (photo pixels) drawn in a
    line thick enough to see at that size."""
    factor = width / img.width
    big = img.convert("RGB").resize((width, max(1, round(img.height * factor))), Image.Resampling.BILINEAR)
    if box is None:
        return big
    return draw_boxes(big, [tuple(v * factor for v in box)], colour, max(3, width // 150))


CANDIDATE_COLOUR = (52, 152, 219)   # the full pipeline's candidate boxes; the chosen one: BOX_COLOURS["expanded"]


def chosen_index(result: Any) -> int | None:
    """Which of a full-pipeline reading's candidates its answer came from (``choose.choose``, the rule
    ``predict`` applied); None on the fast path (no candidates)."""
    from svhn_api.inference.choose import choose

    candidates = getattr(result, "candidates", None) or []
    return choose(candidates).index if candidates else None


def photo_with_candidates(img: Image.Image, result: Any, width: int = 720) -> Image.Image:
    """``img`` at ``width`` pixels across with every candidate box of a full-pipeline reading drawn and numbered
    as ``candidate_rows`` lists them (the chosen one in red, thicker, drawn last); on the fast path, the box read."""
    from PIL import ImageFont

    chosen = chosen_index(result)
    if chosen is None:
        return photo_with_box(img, result.box, width)
    factor = width / img.width
    out = img.convert("RGB").resize((width, max(1, round(img.height * factor))), Image.Resampling.BILINEAR)
    line = max(2, width // 240)
    font = ImageFont.load_default(size=max(10, width // 40))
    draw = ImageDraw.Draw(out)
    for i in [i for i in range(len(result.candidates)) if i != chosen] + [chosen]:
        left, top, w, h = (v * factor for v in result.candidates[i].box)
        colour = BOX_COLOURS["expanded"] if i == chosen else CANDIDATE_COLOUR
        draw.rectangle([left, top, left + w - 1, top + h - 1], outline=colour, width=2 * line if i == chosen else line)
        x0, y0, x1, y1 = draw.textbbox((0, 0), str(i + 1), font=font)   # the number on a tab above the box's corner
        tab = (left, max(0.0, top - (y1 - y0) - 6))
        draw.rectangle([tab[0], tab[1], tab[0] + (x1 - x0) + 6, tab[1] + (y1 - y0) + 6], fill=colour)
        draw.text((tab[0] + 3 - x0, tab[1] + 3 - y0), str(i + 1), fill=(255, 255, 255), font=font)
    return out


CANDIDATE_COLUMNS = ("#", "found by", "our reader", "recognizer", "letters", "both agree", "chosen")


def candidate_rows(result: Any) -> list[dict[str, Any]]:
    """Each candidate of a full-pipeline reading as a table row (``CANDIDATE_COLUMNS``): where its box came
    from, our reader's reading with its probability, the scene-text recognizer's (its digits, its text where
    that differs, and its score), whether that text holds letters, whether both read the same, and which one
    the answer came from. Empty on the fast path."""
    chosen = chosen_index(result)
    rows = []
    for i, c in enumerate(getattr(result, "candidates", None) or []):
        t = c.text
        recognizer = (t.digits or "–") + (f" (read “{t.text}”)" if t.text.strip() != t.digits else "") + \
            f", score {t.score:.2f}"
        rows.append({"#": i + 1, "found by": c.source,
                     "our reader": f"{c.number or '–'} ({wording.percent_beside(c.confidence, 1.0)})",
                     "recognizer": recognizer, "letters": "yes" if t.letters else "no",
                     "both agree": "yes" if c.agree else "no", "chosen": "✔" if i == chosen else ""})
    return rows


def sure_threshold(result: Any, reader_card: cards.ModelCard | None = None) -> tuple[float | None, str]:
    """The figure a reading's confidence was compared with to decide "sure" or "unsure", and what it is.
    Full pipeline: the calibration's ``sure_from`` for its mode (a whole photo, or a photo with the number's
    box given). Fast path: the digit classifier card's ``decode.unsure_below`` when the classifier joined the
    reading, else the reader card's. None: no calibrated threshold."""
    from svhn_api.inference import calibration

    if getattr(result, "pipeline", "fast") == "full":
        cal = calibration.read()
        given = result.candidates and result.candidates[0].source == "given"
        mode: calibration.Mode = "given box" if given else "whole photo"
        if cal is None:
            return None, f"no calibration of the full pipeline is installed ({calibration.FILE})"
        return cal.modes[mode].sure_from, f"the full pipeline's calibrated threshold for a {mode}"
    digits = paths.default_digits() if "digits" in (getattr(result, "runtime", None) or {}) else None
    if digits is not None:
        card = cards.read(digits)
        return (None if card is None else card.decode.unsure_below), "the digit classifier's calibrated threshold"
    return (None if reader_card is None else reader_card.decode.unsure_below), "the reader's calibrated threshold"


def reader_crop(img: Image.Image, box: Sequence[float] | None, shape: tuple[int, int, int],
                size: int = 256) -> Image.Image:
    """What a reader of input ``shape`` reads from ``img`` with ``box`` (expanded and cropped as ``predict`` does;
    None: the whole image), enlarged with square pixels to about ``size`` across."""
    with warnings.catch_warnings():   # a box partly outside the photo: predict() has said so already
        warnings.simplefilter("ignore", BoxWarning)
        arr = model_input(img, shape, None if box is None else as_box(box))
    return upscale(arr, max(1, size // shape[1]))


@dataclass
class Sample:
    index: int  # row within its split
    split: str
    number: str
    length: int
    filename: str
    source: str
    image: Image.Image  # the stored model input, enlarged, with the digit boxes drawn (union crop)
    size: tuple[int, int] = (0, 0)

    @property
    def caption(self) -> str:
        return f"#{self.index} · {self.number}"


def _size(stored: np.ndarray) -> tuple[int, int]:
    """A row's stored ``sizes`` entry (width, height) as two ints."""
    width, height = (int(v) for v in stored)
    return width, height


def sample_grid(path: str | Path, split: str, indices: Sequence[int] | np.ndarray, *, scale: int = 2,
                draw: bool = True) -> list[Sample]:
    """The rows ``indices`` of ``split`` as enlarged crops with their digit boxes drawn on them."""
    info = inspect_store(path)
    indices = [int(i) for i in indices]
    if not indices:
        return []
    rows = read(path, split, fields=("images", "labels", "boxes", "sizes", "filenames", "sources"),
                indices=indices)
    out = []
    for k, idx in enumerate(indices):
        labels = rows["labels"][k]
        img = upscale(rows["images"][k], scale)
        boxes = boxes_of(rows["boxes"][k], labels)
        if draw and info.crop == "union" and boxes:
            size = _size(rows["sizes"][k])
            try:
                mapped = boxes_in_crop(boxes, size, img.width)
                img = draw_boxes(img, mapped, width=max(1, scale // 2),
                                 labels=[str(b.digit) for b in boxes] if scale >= 3 else None)
            except ValueError:  # a box outside its photo: show the crop as it is
                pass
        out.append(Sample(idx, split, row_to_number(labels), int(labels[0]), str(rows["filenames"][k]),
                          str(rows["sources"][k]), img, _size(rows["sizes"][k])))
    return out


def contact_sheet(samples: Sequence[Sample], columns: int = 8, pad: int = 4) -> Image.Image:
    """All sample images on one sheet, row by row (for a quick overview or a screenshot)."""
    if not samples:
        return Image.new("RGB", (1, 1), "white")
    w, h = samples[0].image.size
    rows = math.ceil(len(samples) / columns)
    sheet = Image.new("RGB", (columns * (w + pad) + pad, rows * (h + pad) + pad), "white")
    for i, s in enumerate(samples):
        sheet.paste(s.image, (pad + (i % columns) * (w + pad), pad + (i // columns) * (h + pad)))
    return sheet


# ----------------------------------------------------------------------------------------- original photos


@dataclass
class RowView:
    """One store row taken apart: what the archive held, the boxes, and each preprocessing step."""

    split: str
    index: int
    number: str
    filename: str
    source: str
    size: tuple[int, int]
    boxes: list[DigitBox]
    stored: np.ndarray  # the model input as stored
    crop_mode: str
    original: Image.Image | None = None
    archive: Path | None = None
    missing: str = ""  # why the original photo is not shown
    steps: dict[str, Image.Image] = field(default_factory=dict)
    rects: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)


def row_view(store: str | Path, split: str, index: int, extra_dirs: Sequence[str | Path] = ()) -> RowView:
    """Row ``index`` of ``split`` with its original photo (when its archive is here) and every preprocessing
    step redone from it: boxes drawn, union and expanded boxes, the 64x64 union crop and the capstone's
    32x32 digit strip."""
    rows = read(store, split, fields=("images", "labels", "boxes", "sizes", "filenames", "sources"),
                indices=[index])
    labels = rows["labels"][0]
    view = RowView(split, int(index), row_to_number(labels), str(rows["filenames"][0]), str(rows["sources"][0]),
                   _size(rows["sizes"][0]), boxes_of(rows["boxes"][0], labels),
                   rows["images"][0], inspect_store(store).crop)
    view.archive = find_archive(store, view.source, extra_dirs)
    if view.archive is None:
        view.missing = (f"the archive {view.source}.tar.gz is not on this machine (looked beside {Path(store)}); "
                        "only the stored crop is shown")
        return view
    try:
        img = original_photo(view.archive, view.filename)
    except (ArchiveError, ImageError) as e:
        view.missing = str(e)
        return view
    if img.size != view.size:
        view.missing = (f"{view.archive}: {view.filename} is {img.width}x{img.height}, the store says "
                        f"{view.size[0]}x{view.size[1]}: this archive is not the one the store was made from")
        return view
    view.original = img
    view.steps, view.rects = preprocess_steps(img, view.boxes)
    return view


PHOTO_WIDTH, PHOTO_HEIGHT = 720, 480   # the original photo on screen: SVHN photos are 30-500 px across


def display_size(size: tuple[int, int], width: int = PHOTO_WIDTH, height: int = PHOTO_HEIGHT) -> tuple[int, int]:
    """``size`` enlarged (never shrunk) to fill ``width`` x ``height`` at its own aspect ratio, for the screen."""
    w, h = size
    factor = max(1.0, min(width / w, height / h))
    return max(1, round(w * factor)), max(1, round(h * factor))


def preprocess_steps(img: Image.Image, boxes: Sequence[DigitBox], width: int = PHOTO_WIDTH,
                     height: int = PHOTO_HEIGHT
                     ) -> tuple[dict[str, Image.Image], dict[str, tuple[float, float, float, float]]]:
    """Each step from photo to model input, as images to show, and the rectangles involved (photo pixels).

    Steps: ``boxes`` (the photo enlarged to about ``width`` x ``height`` with square pixels, ``display_size``,
    with the digit, union and expanded boxes scaled onto it), ``union`` (the 64x64 RGB crop of the expanded
    union box), ``capstone_tiles`` (each digit box at 32x32 gray, side by side) and ``capstone`` (the 2016
    capstone's 32x32 strip).
    """
    steps: dict[str, Image.Image] = {}
    rects: dict[str, tuple[float, float, float, float]] = {}
    shown = display_size(img.size, width, height)
    big = img.convert("RGB").resize(shown, Image.Resampling.NEAREST)
    if not boxes:
        steps["boxes"] = big
        steps["union"] = Image.fromarray(crop_union(img))
        return steps, rects
    fx, fy = shown[0] / img.width, shown[1] / img.height

    def sc(r: Sequence[float]) -> tuple[float, ...]:
        return (r[0] * fx, r[1] * fy, r[2] * fx, r[3] * fy)

    rects["union"] = union(boxes)
    try:
        x0, y0, x1, y1 = expanded_crop(rects["union"], img.size)
        rects["expanded"] = (x0, y0, x1 - x0, y1 - y0)
    except ValueError:
        pass
    line = max(2, round(min(fx, fy) / 4))
    big = draw_boxes(big, [sc(b[1:]) for b in boxes], BOX_COLOURS["digit"], line)
    big = draw_boxes(big, [sc(rects["union"])], BOX_COLOURS["union"], line)
    if "expanded" in rects:
        big = draw_boxes(big, [sc(rects["expanded"])], BOX_COLOURS["expanded"], line)
        steps["union"] = Image.fromarray(crop_union(img, rects["union"]))
    steps["boxes"] = big
    try:
        tiles = capstone_tiles(img, boxes)
    except ValueError:  # a digit box outside its photo: prepare leaves such photos out in capstone mode
        return steps, rects
    steps["capstone_tiles"] = Image.fromarray(np.concatenate(tiles, axis=1))
    steps["capstone"] = Image.fromarray(crop_capstone(img, boxes)[:, :, 0])
    return steps, rects


# The model's input layer (``svhn_api.models.layers.InputAdapter``) does the last preprocessing steps inside the
# model; its settings are read from the loaded model itself, never mirrored here.
INPUT_LAYER = "input_adapter"   # the name of svhn_api.models.layers.InputAdapter in every model
INPUT_KEYS = ("crop", "size", "gray", "norm")


def input_layer(keras_model: Any) -> Any | None:
    """The model's own input layer (named ``INPUT_LAYER``), or None."""
    return next((layer for layer in getattr(keras_model, "layers", []) if getattr(layer, "name", None) == INPUT_LAYER),
                None)


def input_config(keras_model: Any) -> dict[str, Any] | None:
    """``crop``/``size``/``gray``/``norm`` as the model's input layer has them (its ``get_config``), or None when
    the model has no such layer."""
    layer = input_layer(keras_model)
    if layer is None:
        return None
    config = layer.get_config()
    return {k: config.get(k) for k in INPUT_KEYS}


def input_config_in_file(path: str | Path) -> dict[str, Any] | None:
    """``input_config`` read from a ``.keras`` file's own ``config.json`` (a zip member: no Keras needed), or None
    when the file holds no input layer or cannot be read."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    layers = config.get("config", {}).get("layers", []) if isinstance(config, dict) else []
    found = next((layer.get("config", {}) for layer in layers
                  if isinstance(layer, dict) and layer.get("config", {}).get("name") == INPUT_LAYER), None)
    return None if found is None else {k: found.get(k) for k in INPUT_KEYS}


def model_receives(stored: np.ndarray, crop: int | None = None, size: int | None = None,
                   gray: bool = False, **_: Any) -> Image.Image:
    """A numpy/PIL mirror of the input layer's ``call`` without its normalisation (centre ``crop``, resized to
    ``size``, gray if asked; takes ``input_config``'s dict as keywords), for images the model itself cannot
    take. Approximate: the layer resizes 2:1 by average pooling and converts to gray with its own weights."""
    a = np.asarray(stored)
    img = Image.fromarray(a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a)
    if gray:
        img = img.convert("L")
    if crop and (img.width > crop or img.height > crop):
        left, top = (img.width - crop) // 2, (img.height - crop) // 2
        img = img.crop((left, top, left + crop, top + crop))
    if size and img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return img


def network_input(keras_model: Any, stored: np.ndarray) -> tuple[Image.Image, dict[str, Any], bool] | None:
    """What the network's first convolution receives for ``stored``, the input layer's config (read from the
    model), and whether the picture is exact; None when the model has no input layer.

    Exact (True) when the model takes images of ``stored``'s shape: the model's own layer computes it (this
    runs the Keras backend), stretched to 0-255 for display (the layer's normalisation is per image and
    linear, so the picture is the same). Otherwise (False) ``model_receives`` approximates it with the
    layer's config.
    """
    layer = input_layer(keras_model)
    if layer is None:
        return None
    config = input_config(keras_model)
    assert config is not None   # the model has its input layer
    stored = np.asarray(stored, dtype=np.uint8)
    if tuple(getattr(keras_model, "input_shape", ())[1:]) != stored.shape:
        return model_receives(stored, **config), config, False
    out = np.asarray(layer(stored[None]))[0]
    lo, hi = float(out.min()), float(out.max())
    img = np.round((out - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(out)).astype(np.uint8)
    return Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img), config, True


# ----------------------------------------------------------------------------------------- models


@dataclass
class ModelEntry:
    name: str
    path: Path
    card: cards.ModelCard
    task: str | None = None   # a key of models.kinds.KINDS ("read": a reader); None: not known (model_task)

    @property
    def ready(self) -> bool:
        """Whether the folder holds a saved model (a run still in progress has only its card and checkpoint)."""
        return ModelFolder(self.path).has_keras()

    @property
    def is_reader(self) -> bool:
        """Whether it reads a number (the role of the sidebar's model: Evaluate and Predict run it)."""
        return self.task == "read"

    @property
    def kind(self) -> str:
        """What it is, in words: "reader", "localizer", "detector", "digit classifier" (``models.kinds``)."""
        return kinds.NAMES.get(self.task or "", "model of unknown kind")


def model_task(folder: Path, card: cards.ModelCard) -> str | None:
    """What the model in ``folder`` does (a key of ``models.kinds.KINDS``), as the library tells it: from its card
    (``models.io.card_task``), else from the loaded model itself (``LoadedModel.task``); None when neither
    can tell (no saved model yet, or one that does not load)."""
    from svhn_api.models import io as model_io

    task = model_io.card_task(card)
    if task is None and ModelFolder(folder).has_keras():
        try:
            task = model_io.load(folder).task
        except ModelError:
            return None
    return task


def readers(models: Sequence[ModelEntry]) -> list[ModelEntry]:
    """The saved models that read numbers: the choices for the sidebar's reader."""
    return [m for m in models if m.ready and m.is_reader]


def helper_models(models: Sequence[ModelEntry]) -> list[str]:
    """The saved models that are not readers, each as "name (kind, its role)": a localizer, detector or digit
    classifier that ``predict`` uses beside the reader (``paths.default_*``), or one that is not used here."""
    used = {str(Path(p).resolve()): role for p, role in (
        (paths.default_localizer(), "finds the number in a whole photo"),
        (paths.default_detector(), "finds digits in a whole photo"),
        (paths.default_digits(), "reads each digit beside the reader")) if p is not None}
    return [f"{m.name} ({m.kind}: {used.get(str(m.path.resolve()), 'not used here')})" for m in models
            if m.ready and not m.is_reader]


def model_folders() -> tuple[Path, Path]:
    """Where models are listed from, the same for the CLI, the dashboard and the pipelines: the shipped models
    (read-only) and the user's training runs (``paths.runs_dir()``)."""
    return paths.shipped_models_dir(), paths.runs_dir()


def all_models(shipped: str | Path | None = None, runs: str | Path | None = None) -> list[ModelEntry]:
    """The shipped models, named by their folder (``compact``), then the training runs, named ``runs/<name>``
    so that a run never takes a shipped model's name (defaults: ``model_folders()``)."""
    default_shipped, default_runs = model_folders()
    runs = Path(runs) if runs is not None else default_runs
    return list_models(shipped if shipped is not None else default_shipped) + \
        list_models(runs, prefix=f"{runs.name or 'runs'}/")


def list_models(models_dir: str | Path, *, prefix: str = "") -> list[ModelEntry]:
    """Every model folder with a readable card under ``models_dir``, named ``prefix`` + the folder's name;
    ``compact`` first."""
    root = Path(models_dir)
    out = []
    if root.is_dir():
        for d in sorted(p for p in root.iterdir() if ModelFolder(p).has_card()):
            try:
                card = cards.read(d)
            except ModelError:
                continue
            if card is not None:
                out.append(ModelEntry(prefix + d.name, d, card, model_task(d, card)))
    out.sort(key=lambda m: (m.name != prefix + "compact", m.name))
    return out


def _scalar(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return None if isinstance(v, float) and not math.isfinite(v) else float(v)


def training_history(card: cards.ModelCard) -> dict[str, list[float | None]]:
    """The card's per-epoch history as ``{metric: [value per epoch]}``; ``epoch`` holds the epoch numbers.
    Metrics with no finite value are left out."""
    rows = [r for r in (card.training.history if card.training else []) if isinstance(r, dict)]
    keys = [k for k in dict.fromkeys(k for r in rows for k in r) if any(_scalar(r.get(k)) is not None for r in rows)]
    series = {k: [_scalar(r.get(k)) for r in rows] for k in keys}
    if rows and "epoch" not in series:
        series = {"epoch": [float(i + 1) for i in range(len(rows))], **series}
    return series


# ----------------------------------------------------------------------------------------- shared results


ProgressReport = Callable[[int, int], None]


@dataclass
class _Job:
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None
    progress: tuple[int, int] = (0, 0)


class SharedResults:
    """Results computed once per key for the whole process (every browser session), e.g. whole-split
    evaluations keyed by model and store versions.

    A caller of a key nobody has computed runs the work in its own thread, with a progress callback; callers of
    the same key meanwhile wait for it (their ``on_progress`` follows the same work) instead of computing it
    again. A failed computation is not kept: each waiting caller gets its error, and the next call tries again.
    At most ``max_entries`` finished results are kept, the oldest dropped first.
    """

    def __init__(self, max_entries: int = 32) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._jobs: dict[Hashable, _Job] = {}

    def get(self, key: Hashable) -> Any | None:
        """The finished result for ``key``, or None."""
        with self._lock:
            job = self._jobs.get(key)
        return job.value if job is not None and job.done.is_set() and job.error is None else None

    def compute(self, key: Hashable, work: Callable[[ProgressReport], Any],
                on_progress: ProgressReport | None = None, poll: float = 0.25) -> Any:
        """``work(report)``'s result for ``key``: kept, being computed by another caller (waited for), or
        computed now. ``on_progress(done, total)`` is called in the caller's thread either way."""
        with self._lock:
            job = self._jobs.get(key)
            mine = job is None
            if mine:
                job = self._jobs[key] = _Job()
        assert job is not None
        if not mine:
            while not job.done.wait(poll):
                if on_progress is not None and job.progress[1]:
                    on_progress(*job.progress)
            if job.error is not None:
                raise job.error
            return job.value

        def report(done: int, total: int) -> None:
            job.progress = (done, total)
            if on_progress is not None:
                on_progress(done, total)

        try:
            job.value = work(report)
        except BaseException as e:
            job.error = e
            with self._lock:
                self._jobs.pop(key, None)
            raise
        finally:
            job.done.set()
        with self._lock:
            finished = [k for k, j in self._jobs.items() if j.done.is_set()]
            for k in finished[:max(0, len(finished) - self.max_entries)]:
                del self._jobs[k]
        return job.value
