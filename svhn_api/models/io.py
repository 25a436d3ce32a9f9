"""Saving and loading models: atomic ``model.keras`` writes, and a process-wide cache of loaded models
with a compiled fixed-signature inference function (warm calls skip Keras' ``predict`` machinery)."""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svhn_api import paths
from svhn_api.errors import ModelError
from svhn_api.models import card as cards

MODEL_FILE = "model.keras"
_CACHE: dict[tuple[str, int, int], LoadedModel] = {}
_LOCK = threading.Lock()


@dataclass
class LoadedModel:
    """A model ready for inference: ``probabilities(images uint8 (N, H, W, C)) -> (N, 6, 11)``."""

    path: Path
    folder: Path | None
    keras_model: Any
    card: dict | None
    input_shape: tuple[int, int, int]
    none_terms: bool = True
    _fn: Any = field(default=None, repr=False)

    def probabilities(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape or images.dtype != np.uint8:
            raise ModelError(f"{self.path}: expects uint8 images of shape (N, {', '.join(map(str, self.input_shape))})"
                             f", got {images.dtype} {images.shape}")
        if self._fn is None:
            import tensorflow as tf

            spec = tf.TensorSpec((None, *self.input_shape), tf.uint8)
            self._fn = tf.function(lambda x: self.keras_model(x, training=False), input_signature=[spec])
        out = [self._fn(images[i:i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 6, 11), np.float32)


def resolve(model: str | os.PathLike | None) -> tuple[Path, Path | None]:
    """``(model.keras file, its folder when that folder is a model folder)`` for a folder or a .keras file."""
    path = Path(model) if model is not None else paths.default_model()
    if path.is_dir():
        file = path / MODEL_FILE
        if not file.is_file():
            hint = (" (the default model ships in artifacts/models/compact; train one with "
                    "`python -m svhn_api train`)") if model is None else ""
            raise ModelError(f"{path}: no {MODEL_FILE} in this folder{hint}")
        return file, path
    if path.is_file():
        if path.suffix != ".keras":
            raise ModelError(f"{path}: not a .keras model file; give a model folder or a .keras file")
        return path, path.parent if (path.parent / cards.CARD).is_file() and path.name == MODEL_FILE else None
    raise ModelError(f"{path}: no such model; give a model folder (with {MODEL_FILE}) or a .keras file")


def load(model: str | os.PathLike | LoadedModel | None = None) -> LoadedModel:
    """Load (once per file version, then from the in-process cache) a model folder or .keras file."""
    if isinstance(model, LoadedModel):
        return model
    if model is not None and not isinstance(model, str | os.PathLike):
        return wrap(model)
    file, folder = resolve(model)
    st = file.stat()
    key = (str(file.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        import keras

        from svhn_api.models import architectures  # noqa: F401 - registers the custom layers

        try:
            net = keras.saving.load_model(file, compile=False)
        except Exception as e:  # noqa: BLE001 - any failure to load is the same problem for the user
            raise ModelError(f"{file}: cannot load this model ({e.__class__.__name__}: {e}); "
                             "retrain it or restore the file") from e
        card = cards.read(folder) if folder else None
        loaded = wrap(net, file, folder, card)
        _CACHE[key] = loaded
        return loaded


def wrap(net: Any, file: Path | None = None, folder: Path | None = None, card: dict | None = None) -> LoadedModel:
    """A ``LoadedModel`` around an in-memory Keras model."""
    shape = tuple(int(v) for v in net.input_shape[1:])
    if len(shape) != 3 or tuple(net.output_shape[1:]) != (6, 11):
        raise ModelError(f"{file or net.name}: not an svhn-reader model (input {net.input_shape}, output "
                         f"{net.output_shape}; expected (N, H, W, C) -> (N, 6, 11))")
    none_terms = bool(((card or {}).get("decode") or {}).get("none_terms", True))
    return LoadedModel(file or Path(f"<{net.name}>"), folder, net, card, shape, none_terms)  # type: ignore[arg-type]


def save(net: Any, folder: str | Path) -> Path:
    """Write ``folder/model.keras`` atomically (no optimizer state: the file is for inference)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    tmp = folder / f".tmp-{os.getpid()}-{MODEL_FILE}"
    try:
        with warnings.catch_warnings():  # Keras' own numpy-2 copy= deprecation noise while saving
            warnings.simplefilter("ignore", DeprecationWarning)
            net.save(tmp)  # never compiled: no optimizer state in the file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
