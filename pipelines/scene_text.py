"""Bring PaddleOCR's pretrained PP-OCRv4 mobile text detector and recognizer into the project as shipped
model folders, from the PyPI wheel of ``rapidocr-onnxruntime`` 1.4.4 (Apache-2.0).

    python -m pipelines.scene_text [--out artifacts/models] [--wheel PATH]

Steps: fetch the pinned wheel (``pip download --no-deps``, into ``$SVHN_DATA/pretrained``, or the file given by
``--wheel``) and check its SHA-256; read the two ONNX files out of it (each checked against its pin, size
limited) without importing the package; write ``<out>/text-detector/`` and ``<out>/text-recognizer/``, each
``model.onnx``, ``card.json`` (package, version, wheel and file SHA-256, licence, what the models were trained
on as PaddleOCR describes it) and the Apache-2.0 licence with PaddleOCR's notice; the recognizer also gets
``characters.txt``, its CTC classes, taken from the ONNX file's metadata. Nothing at run time imports
rapidocr, OpenCV, pyclipper or shapely: ``svhn_api.inference.text_detect`` and ``text_read`` hold the pre- and
post-processing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from pipelines.pretrained_digits import fetch_wheel, member, verify_wheel
from svhn_api import paths
from svhn_api.atomic import atomic_path
from svhn_api.errors import ArchiveError
from svhn_api.models import provenance
from svhn_api.models.folder import ModelFolder

PACKAGE = "rapidocr_onnxruntime"
VERSION = "1.4.4"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
HOMEPAGE = "https://github.com/RapidAI/RapidOCR"
LICENSE_FILE = ModelFolder(".").licence("PaddleOCR").name
APACHE = Path(__file__).parent / "licenses" / "Apache-2.0.txt"
NOTICE = ("PP-OCRv4 mobile text detection and recognition models (ch_PP-OCRv4_det_infer, ch_PP-OCRv4_rec_infer)\n"
          "Copyright (c) PaddlePaddle Authors (https://github.com/PaddlePaddle/PaddleOCR), converted to ONNX and\n"
          f"redistributed by RapidOCR ({HOMEPAGE}) in the PyPI package rapidocr-onnxruntime {VERSION},\n"
          "both under the Apache License, Version 2.0, whose text follows. svhn-reader ships the two ONNX files\n"
          "unmodified.\n\n")
TRAINED_ON = ("PaddleOCR's PP-OCRv4 mobile models for Chinese and English text in general scenes (street and shop "
              "signs, documents, screens, cards); PaddleOCR describes the training data as large real and synthetic "
              "scene-text collections and does not list them in the wheel. Not trained by this project, and on no "
              "SVHN data that we know of: judge them on the real validation and test photos like any model.")
MODELS: dict[str, dict[str, Any]] = {
    "text-detector": {
        "member": f"{PACKAGE}/models/ch_PP-OCRv4_det_infer.onnx",
        "sha256": "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        "architecture": "DBNet (PP-OCRv4 mobile det): a probability map of text, Differentiable Binarization",
        "input": "(N, 3, H, W) float32, RGB scaled to [-1, 1], H and W multiples of 32 "
                 "(svhn_api.inference.text_detect.detector_input)",
        "output": "(N, 1, H, W) probability that each pixel is inside the shrunk core of a text line "
                  "(boxes: svhn_api.inference.text_detect.boxes_from_map)",
    },
    "text-recognizer": {
        "member": f"{PACKAGE}/models/ch_PP-OCRv4_rec_infer.onnx",
        "sha256": "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        "architecture": "SVTR-LCNet + CTC (PP-OCRv4 mobile rec)",
        "input": "(N, 3, 48, W) float32, RGB scaled to [-1, 1], resized to 48 high, right-padded "
                 "(svhn_api.inference.text_read.recognizer_input)",
        "output": "(N, T, classes) per-step softmax: class 0 blank, then characters.txt, then a space "
                  "(greedy CTC: svhn_api.inference.text_read.ctc_decode)",
    },
}


def read_wheel(wheel: Path) -> dict[str, Any]:
    """The two ONNX files (each checked against its pin) and the declared licence, out of the verified wheel."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            files = {kind: member(zf, wheel, spec["member"]) for kind, spec in MODELS.items()}
            metadata = HeaderParser().parsestr(member(zf, wheel, f"{PACKAGE}-{VERSION}.dist-info/METADATA")
                                               .decode("utf-8"))
    except zipfile.BadZipFile as e:
        raise ArchiveError(f"{wheel}: not a readable wheel ({e}); delete it and run again") from None
    for kind, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        if digest != MODELS[kind]["sha256"]:
            raise ArchiveError(f"{wheel}: {MODELS[kind]['member']} has SHA-256 {digest}, not the pinned "
                               f"{MODELS[kind]['sha256']}")
    if metadata.get("License", "") != "Apache-2.0":
        raise ArchiveError(f"{wheel}: the wheel no longer says it is Apache-2.0 licensed "
                           f"({metadata.get('License')!r}); check the terms before using its models")
    return {"files": files, "license": "Apache-2.0"}


def characters(onnx: bytes) -> str:
    """The recognizer's character list, one per line, from its ONNX metadata (``character``)."""
    import onnxruntime

    meta = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise ArchiveError("the recognizer's ONNX file holds no 'character' list in its metadata")
    return meta["character"].rstrip("\n") + "\n"


def card(kind: str, wheel_sha: str) -> dict[str, Any]:
    spec = MODELS[kind]
    return {
        "name": f"{kind}-ppocrv4", "kind": kind, "architecture": spec["architecture"],
        "input": spec["input"], "output": spec["output"],
        "source": {"package": "rapidocr-onnxruntime", "version": VERSION, "wheel": WHEEL, "wheel_sha256": wheel_sha,
                   "file": spec["member"], "file_sha256": spec["sha256"], "license": "Apache-2.0",
                   "license_file": LICENSE_FILE, "homepage": HOMEPAGE, "taken_by": "pipelines.scene_text"},
        "data": {"kind": "real and synthetic scene text (not SVHN)", "description": TRAINED_ON},
        "written": provenance.now(),
    }


def write_folder(folder: Path, kind: str, onnx: bytes, wheel_sha: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    writes: dict[str, bytes] = {ModelFolder.ONNX: onnx,
                                LICENSE_FILE: (NOTICE + APACHE.read_text(encoding="utf-8")).encode("utf-8")}
    if kind == "text-recognizer":
        writes[ModelFolder.CHARACTERS] = characters(onnx).encode("utf-8")
    writes[ModelFolder.CARD] = (json.dumps(card(kind, wheel_sha), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    for name, data in writes.items():     # the card last: a folder with a card is complete
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=paths.shipped_models_dir(), help="where the model folders go")
    ap.add_argument("--wheel", type=Path, default=None, help=f"a local {WHEEL} (default: download it with pip)")
    ap.add_argument("--cache", type=Path, default=paths.data_dir() / "pretrained", help="where the wheel is kept")
    a = ap.parse_args()
    wheel = a.wheel or fetch_wheel(a.cache, WHEEL, WHEEL_SHA256)
    wheel_sha = verify_wheel(wheel, WHEEL, WHEEL_SHA256)
    got = read_wheel(wheel)
    for kind, onnx in got["files"].items():
        write_folder(a.out / kind, kind, onnx, wheel_sha)
        print(f"{a.out / kind}: {ModelFolder.ONNX} ({len(onnx):,} bytes), {ModelFolder.CARD}, {LICENSE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
