"""The pretrained scene-text models: PaddleOCR's PP-OCRv4 mobile text detector (DBNet) and recognizer
(SVTR + CTC), taken from the ``rapidocr-onnxruntime`` wheel by ``pipelines.scene_text``. They are ONNX-only
model folders (``model.onnx``, ``card.json``, the licence, and the recognizer's ``characters.txt``); nothing
here imports the package or needs OpenCV.

A folder is loaded once per process; its ``model.onnx`` must have the SHA-256 its card records (a changed
file is refused, not run).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from svhn_api import paths
from svhn_api.errors import ModelError
from svhn_api.models import provenance
from svhn_api.models import runtime as model_runtime
from svhn_api.models.folder import ModelFolder

SceneTextKind = Literal["text-detector", "text-recognizer"]
_CACHE: dict[tuple[str, SceneTextKind], SceneTextModel] = {}
_LOCK = threading.Lock()


@dataclass
class SceneTextModel:
    """One loaded scene-text model: ``run(x float32 NCHW) -> its first output``."""

    folder: Path
    kind: SceneTextKind
    card: dict[str, Any]
    session: Any                          # the first session (its inputs and outputs describe the model)
    characters: list[str] | None = None   # the recognizer's CTC classes: index 0 blank, then the list, then space
    runtime: str = "onnxruntime"
    _run: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    def run(self, x: np.ndarray) -> np.ndarray:
        """The model's output for a float32 NCHW batch, on ``runtime.threads()`` threads (one per call inside
        ``runtime.one_thread_per_call``)."""
        if self._run is None:
            self._run = model_runtime.runner(ModelFolder(self.folder).onnx, self.session, np.float32)
        return np.asarray(self._run(x))


def load(folder: str | Path, kind: SceneTextKind) -> SceneTextModel:
    """The scene-text model in ``folder`` (of ``kind``), loaded once and cached; ``ModelError`` saying what to
    do when the folder is not such a model or its file is not the one its card pins."""
    folder = Path(folder)
    key = (str(folder.resolve()), kind)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        files = ModelFolder(folder)
        card_file, onnx = files.card, files.onnx
        if not card_file.is_file() or not onnx.is_file():
            raise ModelError(f"{folder}: not a scene-text model folder (needs {files.CARD} and {files.ONNX}); "
                             "make it with `python -m pipelines.scene_text`")
        card = json.loads(card_file.read_text())
        if card.get("kind") != kind:
            raise ModelError(f"{folder}: a {card.get('kind') or 'model'} folder, not a {kind}")
        pinned = card.get("source", {}).get("file_sha256")
        if pinned != provenance.sha256(onnx):
            raise ModelError(f"{onnx}: not the file its card pins (SHA-256 {pinned}); restore it or run "
                             "`python -m pipelines.scene_text` again")
        characters = None
        if kind == "text-recognizer":
            listed = files.characters.read_text(encoding="utf-8").removesuffix("\n").split("\n")
            characters = ["<blank>", *listed, " "]
        loaded = SceneTextModel(folder, kind, card, model_runtime.session(onnx), characters)
        _CACHE[key] = loaded
        return loaded


def default_folder(kind: SceneTextKind) -> Path | None:
    """The shipped (or ``$SVHN_TEXT_DETECTOR`` / ``$SVHN_TEXT_RECOGNIZER``) folder of ``kind``; None when absent."""
    return paths.default_scene_text(kind)
