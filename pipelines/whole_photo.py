"""Whole-photo reading: the localizer and the detector, trained on synthetic whole photos and the real SVHN
train photos.

    python -m pipelines.whole_photo --work data/whole_photo --minutes 30
    python -m pipelines.whole_photo --work data/whole_photo --model detector --zoomed-copies 8 \
                                    --small-synthetic 10000 --minutes 45

Steps (each is skipped when its output exists, so a rerun continues):
1. Split the real train-split photos (``$SVHN_REAL``/images/train, 623 photos) once, seeded: about 100
   held out as the real validation set, the rest for training; the split is written to ``real/split.json``.
   Both parts are written as official-layout archives (``real/train.tar.gz``; the validation photos as
   ``real/test.tar.gz``, so that they land in their own split) and prepared with ``verify=False``.
   Test-split photos are never read. The validation photos are also written zoomed out to the test split's
   framing (``real/reframed/``, seeded): a validation set that sees how numbers small in the photo fare.
2. Render synthetic photos (``synth/``; with ``--small-synthetic`` also ``synth_small/``, laid out with the
   test split's statistics) and prepare them, whole (crop ``photo`` for the localizer, ``scene`` for the
   detector).
3. Compose the training store: synthetic train photos once, the real train photos ``--real-copies`` times,
   with ``--zoomed-copies`` that many copies of each zoomed out to the test split's framing (filled with
   strips of the other train photos: doors, walls, signs); its validation split is the real validation
   photos, and with ``--zoomed-copies`` their re-framed copies too (model selection on real photos only).
4. Train the ``--model`` into ``--runs``/``--name``: the localizer selected on mean IoU, the detector on the
   share of validation photos whose number its best candidate finds (IoU >= 0.5).
5. With ``--reader-minutes``: the same for the reader's union crops, fine-tuning ``--reader-init``.

Then ``python -m benchmarks.real_eval --localizer runs/localizer --detector runs/detector --split
<work>/real/split.json`` measures the models on the real validation photos (plain and re-framed) and the real
test photos.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict

import numpy as np

from svhn_api import paths

if TYPE_CHECKING:
    from PIL import Image

    from svhn_api.data.preprocess import CropMode
    from svhn_api.records import DigitBox


class RealSplit(TypedDict):
    """``split.json``: the seed, and the names of the real train-split photos trained on and held out."""
    seed: int
    train: list[str]
    validation: list[str]


def split_real(real: Path, out: Path, validation: int, seed: int) -> RealSplit:
    """The seeded train/validation split of the real train photos, written once to ``out/split.json``."""
    split_file = out / "split.json"
    if split_file.is_file():
        return json.loads(split_file.read_text())
    annotations = json.loads((real / "annotations" / "train.json").read_text())
    names = sorted((e["filename"] for e in annotations if (real / "images" / "train" / e["filename"]).is_file()),
                   key=lambda n: int(n.split(".")[0]))
    held = set(np.random.default_rng(seed).choice(names, size=validation, replace=False).tolist())
    split: RealSplit = {"seed": seed, "train": [n for n in names if n not in held],
                        "validation": [n for n in names if n in held]}
    out.mkdir(parents=True, exist_ok=True)
    split_file.write_text(json.dumps(split, indent=1) + "\n")
    return split


def test_framing(real: Path) -> np.ndarray:
    """How tall the number is in each official test-split photo (union-box height / photo height), from the
    test annotations' boxes and sizes (no pixels)."""
    shares = []
    for e in json.loads((real / "annotations" / "test.json").read_text()):
        top = max(0.0, min(b["top"] for b in e["boxes"]))
        bottom = min(float(e["image_height"]), max(b["top"] + b["height"] for b in e["boxes"]))
        shares.append((bottom - top) / e["image_height"])
    return np.array(shares)


def zoomed_out(real: Path, names: list[str], copies: int, seed: int,
               ) -> list[tuple[str, Image.Image, list[DigitBox]]]:
    """``copies`` zoomed-out copies of each of the real train-split photos ``names`` (file name, PIL image,
    digit boxes): each draws a target share from the test photos' number heights and is placed smaller in a
    canvas filled with strips of the other photos of ``names`` (``pipelines.reframe``); one already framed that
    small stays as it is. Copies after the first are named ``<number>_z<copy>.png``."""
    from PIL import Image

    from pipelines.reframe import strips, zoom_out
    from svhn_api.boxes import union
    from svhn_api.records import DigitBox

    annotations = {e["filename"]: e for e in json.loads((real / "annotations" / "train.json").read_text())}
    photos = {n: Image.open(real / "images" / "train" / n).convert("RGB") for n in names}

    def clipped_union(n: str) -> tuple[float, float, float, float]:
        e = annotations[n]
        x, y, w, h = union([DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"])
                                for b in e["boxes"]])
        x0, y0 = max(0.0, x), max(0.0, y)
        return x0, y0, min(float(e["image_width"]), x + w) - x0, min(float(e["image_height"]), y + h) - y0

    bank = {n: strips(photos[n], clipped_union(n)) for n in names}
    shares, rng = test_framing(real), np.random.default_rng(seed)
    out: list[tuple[str, Image.Image, list[DigitBox]]] = []
    for copy in range(copies):
        for n in names:
            box = clipped_union(n)
            filler = [s for m in names if m != n for s in bank[m]]
            canvas, moved = zoom_out(photos[n], box, float(rng.choice(shares)), filler, rng)
            fx, fy = moved[2] / box[2], moved[3] / box[3]     # the union box moved and shrank: so did each digit
            boxes = [DigitBox(b["label"], moved[0] + (b["left"] - box[0]) * fx, moved[1] + (b["top"] - box[1]) * fy,
                              b["width"] * fx, b["height"] * fy) for b in annotations[n]["boxes"]]
            out.append((n if copy == 0 else f"{Path(n).stem}_z{copy}.png", canvas, boxes))
    return out


def reframed_validation(real: Path, out: Path, split: RealSplit, seed: int) -> Path:
    """The real validation photos zoomed out to the test split's framing (``zoomed_out``), once, seeded
    (``out/reframed/``: PNGs and ``annotations.json`` in the layout of the real sample's)."""
    from svhn_api.labels import boxes_to_row, row_to_number

    folder = out / "reframed"
    done = folder / "annotations.json"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, canvas, boxes in zoomed_out(real, split["validation"], 1, seed):
        canvas.save(folder / name)
        rows.append({"filename": name, "number": row_to_number(boxes_to_row(boxes)), "image_width": canvas.width,
                     "image_height": canvas.height,
                     "boxes": [{"label": b.label, "left": b.left, "top": b.top, "width": b.width,
                                "height": b.height} for b in boxes]})
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=1) + "\n")
    tmp.replace(done)
    return folder


def zoomed_archives(real: Path, out: Path, split: RealSplit, copies: int, seed: int) -> Path:
    """``out/zoomed/``: ``train.tar.gz`` holding ``copies`` zoomed-out copies of each real train photo, and
    ``test.tar.gz`` the re-framed validation photos (so that they land in their own split when prepared)."""
    from PIL import Image

    from svhn_api import write_archive
    from svhn_api.records import DigitBox

    folder = out / "zoomed"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "train.tar.gz").is_file():
        write_archive(folder / "train.tar.gz", "train", zoomed_out(real, split["train"], copies, seed + 1))
    if not (folder / "test.tar.gz").is_file():
        reframed = reframed_validation(real, out, split, seed)
        items = [(e["filename"], Image.open(reframed / e["filename"]),
                  [DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"]) for b in e["boxes"]])
                 for e in json.loads((reframed / "annotations.json").read_text())]
        write_archive(folder / "test.tar.gz", "test", items)
    return folder


def real_archives(real: Path, out: Path, split: RealSplit) -> None:
    """``out/train.tar.gz`` (real train photos) and ``out/test.tar.gz`` (the real validation photos)."""
    from svhn_api import write_archive
    from svhn_api.records import DigitBox

    annotations = {e["filename"]: e for e in json.loads((real / "annotations" / "train.json").read_text())}
    parts: tuple[tuple[Literal["train", "validation"], str], ...] = (("train", "train"), ("validation", "test"))
    for part, archive in parts:
        path = out / f"{archive}.tar.gz"
        if path.is_file():
            continue
        items = [(name, (real / "images" / "train" / name).read_bytes(),
                  [DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"])
                   for b in annotations[name]["boxes"]]) for name in split[part]]
        write_archive(path, archive, items)


def prepared(archives: Path, crop: CropMode, verify: bool, validation_size: int = 0) -> Path:
    from svhn_api import prepare

    out = archives / f"{crop}.h5"
    if not out.is_file():
        splits = [s for s in ("train", "extra", "test") if (archives / f"{s}.tar.gz").is_file()]
        prepare(archives, splits=splits, crop=crop, out=out, download=False, verify=verify,
                validation_size=validation_size, progress=True)
    return out


def training_store(work: Path, crop: CropMode, synthetic: Path, real: Path, real_copies: int,
                   zoomed: Path | None = None, small: Path | None = None) -> Path:
    """The ``crop`` store to train on: synthetic train photos once, real train photos ``real_copies`` times;
    its validation split is the real validation photos. With ``zoomed`` (``zoomed_archives``): also the
    zoomed-out real train photos in training, and the re-framed validation photos in validation. With
    ``small`` (``small_synthetic``): also the synthetic photos framed like the test split, in training."""
    from svhn_api.data import store

    out = work / f"train_{crop}{'_zoomed' if zoomed is not None else ''}{'_small' if small is not None else ''}.h5"
    if not out.is_file():
        synth_store, real_store = prepared(synthetic, crop, verify=True), prepared(real, crop, verify=False)
        parts = [(synth_store, "train", "train", 1), (real_store, "train", "train", real_copies),
                 (real_store, "test", "validation", 1)]
        if zoomed is not None:
            zoomed_store = prepared(zoomed, crop, verify=False)
            parts += [(zoomed_store, "train", "train", 1), (zoomed_store, "test", "validation", 1)]
        if small is not None:
            parts += [(prepared(small, crop, verify=True), "test", "train", 1)]
        print(f"composed {out}: {store.compose(out, parts, source='mixed')}")
    return out


def small_synthetic(work: Path, count: int, seed: int) -> Path:
    """``count`` synthetic photos laid out with the test split's statistics (numbers smaller in the photo:
    median digit height 0.48 of the photo against 0.67), as the ``test`` archive of ``work/synth_small``."""
    from svhn_api import synth

    folder = work / "synth_small"
    if not (folder / "test.tar.gz").is_file():
        synth(folder, train=0, extra=0, test=count, seed=seed + 1)
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=paths.data_dir() / "whole_photo", help="working folder")
    ap.add_argument("--real", type=Path, default=paths.real_svhn_dir(), help="the real SVHN sample")
    ap.add_argument("--synthetic", type=int, default=30000, help="synthetic train photos to render")
    ap.add_argument("--real-copies", type=int, default=8, help="how often each real train photo is repeated")
    ap.add_argument("--real-validation", type=int, default=103, help="real photos held out for validation")
    ap.add_argument("--seed", type=int, default=2026, help="seed of the real split and the synthetic photos")
    ap.add_argument("--minutes", type=float, default=30, help="the localizer's training time budget")
    ap.add_argument("--epochs", type=int, default=40, help="training epochs at most")
    ap.add_argument("--reader-minutes", type=float, default=0,
                    help="also fine-tune the reader (from --reader-init) on synthetic + real crops this long")
    ap.add_argument("--reader-init", type=Path, default=paths.default_model(), help="the reader to start from")
    ap.add_argument("--runs", type=Path, default=paths.runs_dir(), help="where the model folders go")
    ap.add_argument("--model", choices=("localizer", "detector"), default="localizer",
                    help="what to train: the localizer (box regression on 64x64 photos) or the detector (a map of "
                         "where the number is, on 128x128 photos)")
    ap.add_argument("--name", default=None, help="the model's folder name (default: --model)")
    ap.add_argument("--small-synthetic", type=int, default=0,
                    help="also train on this many synthetic photos framed like the test split (small numbers)")
    ap.add_argument("--zoomed-copies", type=int, default=0,
                    help="also train on this many zoomed-out copies of each real train photo (test-split framing), "
                         "and select on the re-framed validation photos too")
    ap.add_argument("--init", "--localizer-init", type=Path, default=None,
                    help="fine-tune this model (of --model's kind) instead of a new one")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the architecture's recipe)")
    a = ap.parse_args()
    a.name = a.name or a.model
    from svhn_api import synth, train

    real = a.work / "real"
    split = split_real(a.real, real, a.real_validation, a.seed)
    reframed_validation(a.real, real, split, a.seed)
    real_archives(a.real, real, split)
    synthetic = a.work / "synth"
    if not (synthetic / "train.tar.gz").is_file():
        synth(synthetic, train=a.synthetic, extra=0, test=0, seed=a.seed)
    zoomed = zoomed_archives(a.real, real, split, a.zoomed_copies, a.seed) if a.zoomed_copies else None
    small = small_synthetic(a.work, a.small_synthetic, a.seed) if a.small_synthetic else None
    photos = training_store(a.work, "photo" if a.model == "localizer" else "scene", synthetic, real, a.real_copies,
                            zoomed, small)
    out = train(photos, model=a.model, name=a.name, root=a.runs, epochs=a.epochs, minutes=a.minutes, patience=8,
                init=a.init, lr=a.lr)
    print(out.to_json())
    if a.reader_minutes > 0:
        crops = training_store(a.work, "union", synthetic, real, a.real_copies)
        out = train(crops, model="compact", name="compact-real", root=a.runs, epochs=a.epochs,
                    minutes=a.reader_minutes, patience=8, init=a.reader_init, lr=1e-3)
        print(out.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
