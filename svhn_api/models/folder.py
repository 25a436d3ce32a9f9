"""A model folder and its files, the one place that names them: the Keras model, its checked ONNX sibling, the
card, the licence notices that travel with pretrained weights, and a recognizer's character list."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelFolder:
    """``ModelFolder(path).keras`` and so on: the paths of a model folder's files (whether or not they exist)."""

    path: Path

    KERAS = "model.keras"
    ONNX = "model.onnx"
    CARD = "card.json"
    CHARACTERS = "characters.txt"
    NOTICES = "LICENSE-*.txt"   # a licence notice that must travel with the model (pretrained weights)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def keras(self) -> Path:
        return self.path / self.KERAS

    @property
    def onnx(self) -> Path:
        return self.path / self.ONNX

    @property
    def card(self) -> Path:
        return self.path / self.CARD

    @property
    def card_lock(self) -> Path:
        """The lock file of the card, where the folder itself cannot be locked (no POSIX ``flock``)."""
        return self.path / f".{self.CARD}.lock"

    @property
    def characters(self) -> Path:
        return self.path / self.CHARACTERS

    def licence(self, source: str) -> Path:
        """The notice of pretrained weights from ``source`` (a package name)."""
        return self.path / self.NOTICES.replace("*", source)

    def notices(self) -> list[Path]:
        return sorted(self.path.glob(self.NOTICES))

    def has_keras(self) -> bool:
        return self.keras.is_file()

    def has_card(self) -> bool:
        return self.card.is_file()
