"""Bring pretrained real-digit weights into the project as a Keras model: the SVHN digit classifier of the
PyPI package ``ccexam`` 1.0.0 (MIT), trained on SVHN format 2's 73,257 real 32x32 digit crops of the train
split.

    python -m pipelines.pretrained_digits --out runs/digits-ccexam [--wheel PATH] [--evaluate]

Steps: fetch the pinned wheel (``pip download --no-deps ccexam==1.0.0`` into ``$SVHN_DATA/pretrained``, or the
file given by ``--wheel``); check its SHA-256 against ``WHEEL_SHA256``; read ``ccexam/weights/svhn.pth`` out of
it (checked against ``WEIGHTS_SHA256``) without PyTorch and without unpickling anything but tensors
(``pipelines.torch_state``); load it into ``svhn_api.models.digits.digit_classifier``; write
``model.keras`` (atomically), ``card.json`` with the provenance, and the package's MIT notice as
``LICENSE-ccexam.txt`` beside them. Nothing at runtime or in CI needs ccexam or PyTorch: only this step
reads the wheel, and it never imports it.

``--evaluate`` also measures the model on the real SVHN sample (``$SVHN_REAL``) and records it on the card:
each digit of the 130 test photos cut by its true box (per-digit and whole-number accuracy), and the 1,083
format-2 train crops, which only checks the conversion (the weights were trained on train-split digits).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import numpy as np

from svhn_api import paths
from svhn_api.errors import ArchiveError, DataError, SVHNError
from svhn_api.models.folder import ModelFolder

PACKAGE = "ccexam"
VERSION = "1.0.0"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "9444f15096c0f8a28599705c8624cc68a9021ca625a32528f30bc8ba34bedc5d"
WEIGHTS = "ccexam/weights/svhn.pth"
WEIGHTS_SHA256 = "736abbe21faf27f1cc91848f7f1071cfcd6ffc1dd742d25237c100f16b4ce8dd"
LICENSE_MEMBER = f"{PACKAGE}-{VERSION}.dist-info/licenses/LICENSE"
METADATA_MEMBER = f"{PACKAGE}-{VERSION}.dist-info/METADATA"
LICENSE_FILE = ModelFolder(".").licence(PACKAGE).name
DIGIT_KIND = "real SVHN digits"    # the classifier's own digit-level records (kept when a pipeline ships)
HOMEPAGE = "https://github.com/FYS-8805-Collaborative-Coding/Collaborative-Coding-Exam"
MAX_MEMBER_BYTES = 64 << 20
TRAINING_DATA = ("SVHN format-2 train_32x32, 73,257 real digit crops of the train split; so it has seen the "
                 "digits of every train-split photo, including our real validation photos: judge it on test "
                 "photos. (ccexam's trainer fits a seeded random 90% of the crops and validates on the other 10%; "
                 "which 10% depends on torch.utils.data.random_split with seed 42, so count every train-split "
                 "digit as seen.)")
TRAINING = {"by": f"{PACKAGE} {VERSION} (ccexam/training.py), not this project",
            "epochs": 5, "optimizer": "Adam", "learning_rate": 1e-3, "batch_size": 64, "augmentation": "none",
            "validation": "10% of train_32x32 held out by random_split(seed 42)",
            "source_of_these_figures": "the package's README (model card 'Model B - SVHN')"}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_wheel(path: Path, wheel: str = WHEEL, pinned: str = WHEEL_SHA256) -> str:
    """The wheel's SHA-256, after checking it against the pin."""
    package, version = wheel.split("-")[:2]
    if not path.is_file():
        raise ArchiveError(f"{path}: no such wheel; omit --wheel to download {package}=={version} with pip")
    digest = sha256_file(path)
    if digest != pinned:
        raise ArchiveError(f"{path}: SHA-256 {digest} is not the pinned {pinned} of {wheel}; delete it and "
                           "run again to download the genuine file (a changed wheel is never converted)")
    return digest


def fetch_wheel(cache: Path, wheel: str = WHEEL, pinned: str = WHEEL_SHA256) -> Path:
    """The pinned ``wheel`` in ``cache``, downloaded there with pip when missing; verified either way."""
    package, version = wheel.split("-")[:2]
    target = cache / wheel
    if target.is_file():
        verify_wheel(target, wheel, pinned)
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", tmp, f"{package.replace('_', '-')}=={version}"]
        print("$", " ".join(cmd), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True)  # noqa: S603 - fixed arguments
        got = Path(tmp) / wheel
        if done.returncode != 0 or not got.is_file():
            raise ArchiveError(f"{target}: pip could not download {package}=={version} ({done.stderr.strip()[-300:]});"
                               f" download {wheel} yourself and pass it with --wheel")
        verify_wheel(got, wheel, pinned)
        got.replace(target)
    return target


def member(zf: zipfile.ZipFile, wheel: Path, name: str) -> bytes:
    """One file of the wheel, checked: exactly one copy, a file of the size it declares, under the limit."""
    infos = [i for i in zf.infolist() if i.filename == name]
    if len(infos) != 1:
        raise ArchiveError(f"{wheel}: {len(infos)} copies of {name} in the wheel, expected one")
    info = infos[0]
    if info.file_size > MAX_MEMBER_BYTES or info.is_dir():
        raise ArchiveError(f"{wheel}: {name} is not a file under {MAX_MEMBER_BYTES:,} bytes")
    with zf.open(info) as f:
        data = f.read(MAX_MEMBER_BYTES + 1)
    if len(data) != info.file_size:
        raise ArchiveError(f"{wheel}: {name} does not hold the {info.file_size} bytes it declares")
    return data


def read_wheel(wheel: Path) -> dict[str, Any]:
    """The weights file, its digest, the license text and the declared license, out of the (verified) wheel."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            weights = member(zf, wheel, WEIGHTS)
            license_text = member(zf, wheel, LICENSE_MEMBER).decode("utf-8")
            metadata = HeaderParser().parsestr(member(zf, wheel, METADATA_MEMBER).decode("utf-8"))
    except zipfile.BadZipFile as e:
        raise ArchiveError(f"{wheel}: not a readable wheel ({e}); delete it and run again") from None
    digest = hashlib.sha256(weights).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise ArchiveError(f"{wheel}: {WEIGHTS} has SHA-256 {digest}, not the pinned {WEIGHTS_SHA256}")
    declared = metadata.get("License", "")
    if declared != "MIT" or "MIT License" not in license_text:
        raise ArchiveError(f"{wheel}: the wheel no longer says it is MIT-licensed ({declared!r}); check the terms "
                           "before using its weights")
    return {"weights": weights, "weights_sha256": digest, "license_text": license_text, "license": declared,
            "summary": metadata.get("Summary", "")}


def convert(weights: bytes, name: str = "digits-ccexam") -> Any:
    """The Keras digit classifier holding the checkpoint's weights."""
    from pipelines import torch_state
    from svhn_api.models import digits

    state = torch_state.read_state(weights, name=f"{WHEEL}!{WEIGHTS}")
    return digits.load_state(digits.digit_classifier(name=name.replace("-", "_")), state)


def make_card(net: Any, folder: Path, wheel_sha: str, content: dict[str, Any]) -> Any:
    from svhn_api.models import card as cards
    from svhn_api.models import provenance

    return cards.ModelCard(
        name=folder.name,
        architecture={"name": "digits", "builder": "svhn_api.models.digits.digit_classifier",
                      "reproduces": f"{PACKAGE} {VERSION} SVHNNet (ccexam/models.py)",
                      "parameters": int(net.count_params()), "layers": len(net.layers),
                      "input": {"shape": list(net.input_shape[1:]), "dtype": "uint8"},
                      "output": {"shape": list(net.output_shape[1:]),
                                 "meaning": "softmax over the digits 0-9 (layer 'logits' holds the logits)"}},
        input=cards.InputSpec([32, 32, 3], "uint8", "digit",
                              "one digit: its box made square on the longer side (same centre), resized to 32x32 "
                              "RGB (bicubic), as SVHN format 2 frames it (svhn_api.models.digits.digit_crop)"),
        data={"kind": "real", "split": "train", "crops": 73257, "description": TRAINING_DATA,
              "pretrained": {"package": PACKAGE, "version": VERSION, "wheel": WHEEL, "wheel_sha256": wheel_sha,
                             "file": WEIGHTS, "file_sha256": content["weights_sha256"],
                             "license": content["license"], "license_file": LICENSE_FILE, "homepage": HOMEPAGE,
                             "converted_by": "pipelines.pretrained_digits (no PyTorch; tensors only)"}},
        training=cards.TrainingRecord(config=TRAINING, status="pretrained"),
        versions=provenance.versions(),
        notes=["Weights converted from PyTorch, not trained here. " + TRAINING_DATA,
               f"The weights are {PACKAGE}'s, under the MIT license: keep {LICENSE_FILE} with the model."],
        updated=provenance.now(),
    )


def build(out: Path, wheel: Path) -> Path:
    """Convert the verified ``wheel`` into ``out`` (model.keras, its ONNX sibling, card.json, the license notice)."""
    from svhn_api import atomic
    from svhn_api.models import card as cards
    from svhn_api.models import io
    from svhn_api.models.runtime import export

    wheel_sha = verify_wheel(wheel)
    content = read_wheel(wheel)
    net = convert(content["weights"], out.name)
    atomic.write_text(out / LICENSE_FILE, f"{PACKAGE} {VERSION} ({HOMEPAGE}), the source of this model's "
                                          f"weights ({WEIGHTS}), is distributed under this license:\n\n"
                                          + content["license_text"])
    io.save(net, out)
    cards.write(out, make_card(net, out, wheel_sha, content))
    export(out)   # model.onnx beside it, checked equal and recorded in the card
    return out


def _label(box: dict) -> int:
    return int(box["digit"]) if "digit" in box else int(box["label"]) % 10


def real_test_digits(real: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Every digit of the real test photos cut by its true box: crops, digits, and each crop's photo index."""
    from PIL import Image

    from svhn_api.models.digits import digit_crop

    folder, ann_path = real / "images" / "test", real / "annotations" / "test.json"
    if not folder.is_dir() or not ann_path.is_file():
        raise DataError(f"{real}: no images/test or annotations/test.json; set $SVHN_REAL or pass --real")
    annotations = {e["filename"]: e for e in json.loads(ann_path.read_text())}
    crops, labels, photo = [], [], []
    for i, file in enumerate(sorted(folder.glob("*.png"), key=lambda p: int(p.stem))):
        with Image.open(file) as im:
            img = im.convert("RGB")
        for b in annotations[file.name]["boxes"]:
            crops.append(digit_crop(img, (b["left"], b["top"], b["width"], b["height"])))
            labels.append(_label(b))
            photo.append(i)
    return np.stack(crops), np.asarray(labels), photo


def evaluate(folder: Path, real: Path) -> list[dict[str, Any]]:
    """Accuracy of the saved model on the real test photos' digits (true boxes) and on the format-2 train
    crops; recorded on the card."""
    from svhn_api.backend import import_keras
    from svhn_api.models import card as cards
    from svhn_api.models import provenance

    net = import_keras().saving.load_model(ModelFolder(folder).keras, compile=False)
    records = []
    x, y, photo = real_test_digits(real)
    right = net.predict(x, batch_size=256, verbose=0).argmax(1) == y
    photos = sorted(set(photo))
    whole = sum(all(right[np.asarray(photo) == p]) for p in photos)
    model = paths.portable(ModelFolder(folder).keras)
    records.append({"model": model, "evaluated": provenance.now(),
                    "data": {"name": f"real SVHN test photos ({len(photos)}), each digit cut by its true box",
                             "path": _relative(real / "images" / "test"), "split": "test", "kind": DIGIT_KIND,
                             "crop": "each digit's true box made square, 32x32", "count": len(photos)},
                    "metrics": {"digits": int(len(y)), "digit_accuracy": float(right.mean()),
                                "whole_number_accuracy": whole / len(photos), "correct": int(whole),
                                "count": len(photos)}})
    npz = real / "format2" / "train_32x32_first1083.npz"
    if npz.is_file():
        with np.load(npz) as d:
            xs, ys = d["X"], d["y"].ravel() % 10
        acc = float((net.predict(xs, batch_size=256, verbose=0).argmax(1) == ys).mean())
        records.append({"model": model, "evaluated": provenance.now(),
                        "data": {"name": f"real SVHN format-2 digit crops of train images ({len(ys)}): a conversion "
                                         "check only, the weights were trained on them; not a fair accuracy",
                                 "path": _relative(npz), "split": "train", "kind": DIGIT_KIND,
                                 "crop": "32x32 single-digit crop", "count": int(len(ys))},
                        "metrics": {"digit_accuracy": acc, "count": int(len(ys))}})
    for r in records:
        cards.add_evaluation(folder, r)
    return records


def _relative(path: Path) -> str:
    """``path`` relative to the checkout, as the other real-photo records name the real SVHN material."""
    return os.path.relpath(path, paths.CHECKOUT or Path.cwd())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=paths.runs_dir() / "digits-ccexam", help="the model folder")
    ap.add_argument("--wheel", type=Path, help=f"a local {WHEEL} (checked against the pin) instead of downloading")
    ap.add_argument("--cache", type=Path, default=paths.data_dir() / "pretrained",
                    help="where the downloaded wheel is kept (default: $SVHN_DATA/pretrained)")
    ap.add_argument("--evaluate", action="store_true", help="measure on the real SVHN sample; record on the card")
    ap.add_argument("--real", type=Path, default=paths.real_svhn_dir(), help="the real SVHN sample ($SVHN_REAL)")
    a = ap.parse_args(argv)
    try:
        wheel = a.wheel or fetch_wheel(a.cache)
        out = build(a.out, wheel)
        print(f"{out}: {ModelFolder.KERAS}, {ModelFolder.CARD} and {LICENSE_FILE} from {wheel} "
              f"(sha256 {WHEEL_SHA256[:12]}...)")
        if a.evaluate:
            for r in evaluate(out, a.real):
                print(json.dumps(r))
    except SVHNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
