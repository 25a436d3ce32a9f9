"""Model files: atomic ``model.keras`` writes, and a process-wide cache of loaded models, each with an inference
function: ONNX Runtime on the folder's checked ONNX sibling when ``runtime.choose`` says so (no Keras, no
TensorFlow imported), else one compiled for the Keras backend in use (warm calls skip Keras' ``predict``
machinery)."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np

from svhn_api import paths
from svhn_api.atomic import atomic_path
from svhn_api.errors import ModelError
from svhn_api.models import card as cards
from svhn_api.models import kinds
from svhn_api.models import runtime as model_runtime
from svhn_api.models.folder import ModelFolder

CELL = kinds.DETECTOR.stride or 4   # a detector's output stride: input pixels per cell of its map, each way
# Images per model call: ONNX Runtime is fastest on batches small enough to stay in the CPU's cache, TensorFlow on
# larger ones (the measurement on the shipped models: docs/benchmarks.md, bulk reading).
BATCH = {"onnxruntime": 64, "keras": 256}
_CACHE: dict[tuple[str, int, int, str], LoadedModel] = {}
_LOCK = threading.Lock()


@dataclass
class LoadedModel:
    """A model ready for inference: ``probabilities(images uint8 (N, H, W, C)) -> (N, 6, 11)``."""

    path: Path
    folder: Path | None
    keras_model: Any                      # None when ONNX Runtime runs the model
    card: cards.ModelCard
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, ...]
    runtime: model_runtime.Runtime = "keras"
    traces: int = 0                       # how often the inference function was (re)compiled
    _fn: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    @property
    def none_terms(self) -> bool:
        return self.card.decode.none_terms

    @property
    def task(self) -> str:
        """Its kind's task (``models.kinds``): ``"read"`` (a reader: ``(N, 6, 11)`` probabilities), ``"locate"``
        (a localizer: ``(N, 4)`` boxes), ``"detect"`` (a detector: ``(N, h, w)`` maps) or ``"classify"`` (a digit
        classifier: ``(N, 10)``)."""
        return task_of(self.output_shape)

    def run(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """The model's output for uint8 images ``(N, H, W, C)``, in batches (default: ``BATCH[runtime]``)."""
        images = np.asarray(images)
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape or images.dtype != np.uint8:
            raise ModelError(f"{self.path}: expects uint8 images of shape (N, {', '.join(map(str, self.input_shape))})"
                             f", got {images.dtype} {images.shape}")
        if self._fn is None:
            self._fn = inference_function(self)
        batch_size = batch_size or BATCH[self.runtime]
        out = [self._fn(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, *self.output_shape), np.float32)

    def probabilities(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """A reader's ``(N, 6, 11)`` probabilities."""
        if self.task != "read":
            raise ModelError(f"{self.path}: a {kinds.NAMES[self.task]}, not a reader; give a reader such as the "
                             "shipped compact model")
        return self.run(images, batch_size)


def task_of(output_shape: tuple[int, ...] | list[int]) -> str:
    """The task (a key of ``kinds.KINDS``) of a model whose output per image has ``output_shape``."""
    return kinds.of_output(output_shape).task


def card_task(card: cards.ModelCard) -> str | None:
    """The task of the model ``card`` describes, without loading it: from the output shape the card records
    (``architecture.output.shape``), else from its architecture's name; None when the card says neither (load
    the model and ask its ``task``)."""
    output = card.architecture.get("output")
    shape = output.get("shape") if isinstance(output, dict) else None
    if isinstance(shape, list) and shape and all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        return task_of(shape)
    name = card.architecture_name
    return kinds.of_architecture(name).task if name in kinds.ARCHITECTURES else None


def _count_trace(lm: LoadedModel) -> None:
    lm.traces += 1


def inference_function(lm: LoadedModel) -> Callable[[np.ndarray], np.ndarray]:
    """``uint8 batch -> probabilities`` compiled once for the backend in use. It reads the model's current
    weights on every call, so it stays right while the model trains."""
    from svhn_api.backend import import_keras

    keras = import_keras()
    net = lm.keras_model
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def forward(x: Any) -> Any:
            _count_trace(lm)
            return net(x, training=False)

        fn = tf.function(forward, input_signature=[tf.TensorSpec((None, *lm.input_shape), tf.uint8)])
        return lambda x: fn(x).numpy()
    if backend == "jax":
        import jax

        def stateless(trainable: Any, non_trainable: Any, x: Any) -> Any:
            _count_trace(lm)
            return net.stateless_call(trainable, non_trainable, x, training=False)[0]

        jitted = jax.jit(stateless)

        def run(x: np.ndarray) -> np.ndarray:
            n = len(x)
            size = 1 << max(0, (n - 1).bit_length())      # pad to a power of two: few shapes, few compilations
            padded = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), x.dtype)]) if size > n else x
            out = jitted([v.value for v in net.trainable_variables], [v.value for v in net.non_trainable_variables],
                         padded)
            return np.asarray(out)[:n]

        return run

    def eager(x: np.ndarray) -> np.ndarray:
        return keras.ops.convert_to_numpy(net(x, training=False))

    if backend == "torch":
        import torch

        def no_grad(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return eager(x)

        return no_grad
    return eager


def resolve(model: str | os.PathLike | None) -> tuple[Path, Path | None]:
    """``(model.keras file, its folder when that folder is a model folder)`` for a folder or a .keras file."""
    path = Path(model) if model is not None else paths.default_model()
    if path.is_dir():
        file = ModelFolder(path).keras
        if not file.is_file():
            hint = (f" (the default model ships in {paths.shipped_models_dir()}; train one with "
                    "`python -m svhn_api train`)") if model is None else ""
            raise ModelError(f"{path}: no {ModelFolder.KERAS} in this folder{hint}")
        return file, path
    if path.is_file():
        if path.suffix != ".keras":
            raise ModelError(f"{path}: not a .keras model file; give a model folder or a .keras file")
        return path, path.parent if ModelFolder(path.parent).has_card() and path.name == ModelFolder.KERAS else None
    raise ModelError(f"{path}: no such model; give a model folder (with {ModelFolder.KERAS}) or a .keras file")


ModelSource: TypeAlias = str | os.PathLike[str] | LoadedModel   # a model folder, a .keras file, or one loaded
ModelOption: TypeAlias = ModelSource | Literal[False] | None     # a helper model: None: the default one; False: none


def load(model: ModelSource | None = None, runtime: model_runtime.Runtime | None = None,
         ) -> LoadedModel:
    """Load (once per file version, then from the in-process cache) a model folder or .keras file; an
    in-memory Keras model is wrapped as it is. ``runtime``: None (``runtime.choose``: ONNX Runtime on a current
    ONNX sibling, else Keras), or ``"keras"``/``"onnxruntime"`` to insist."""
    if isinstance(model, LoadedModel):
        return model
    if model is not None and not isinstance(model, str | os.PathLike):
        return wrap(model)
    file, folder = resolve(model)
    card = cards.read(folder) if folder else None
    if runtime is None:
        runtime = model_runtime.choose(folder, card)
    elif runtime == "onnxruntime" and folder is not None and (why := model_runtime.stale_reason(folder, card)):
        raise ModelError(why)
    st = file.stat()
    key = (str(file.resolve()), st.st_size, st.st_mtime_ns, runtime)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if runtime == "onnxruntime":
            loaded = _onnx_model(file, folder, card)   # type: ignore[arg-type]
            _CACHE[key] = loaded
            return loaded
        from svhn_api.backend import import_keras
        from svhn_api.models import layers  # noqa: F401 - registers the custom layers

        try:
            net = import_keras().saving.load_model(file, compile=False)
        except Exception as e:  # noqa: BLE001 - any failure to load is the same problem for the user
            raise ModelError(f"{file}: cannot load this model ({e.__class__.__name__}: {e}); "
                             "retrain it or restore the file") from e
        loaded = wrap(net, file, folder, card)
        _CACHE[key] = loaded
        return loaded


def _onnx_model(file: Path, folder: Path, card: cards.ModelCard | None) -> LoadedModel:
    """The model of ``folder`` run by ONNX Runtime on its ONNX sibling."""
    onnx = ModelFolder(folder).onnx
    sess = model_runtime.session(onnx)
    shape, output = model_runtime.shapes(sess)
    card = card or cards.ModelCard(name=folder.name)
    _check_shapes(shape, output, file)
    if not card.input.shape:
        card.input = cards.InputSpec(list(shape), "uint8", "capstone" if shape[2] == 1 else "union")
    return LoadedModel(file, folder, None, card, shape, output, "onnxruntime",  # type: ignore[arg-type]
                       _fn=model_runtime.runner(onnx, sess))


def _check_shapes(shape: tuple[int, ...], output: tuple[int, ...], name: object) -> None:
    if len(shape) != 3 or kinds.of_shapes(shape, output) is None:
        raise ModelError(f"{name}: not an svhn-reader model (input (N, {', '.join(map(str, shape))}), output "
                         f"(N, {', '.join(map(str, output))}); expected (N, H, W, C) -> {kinds.shapes_expected()})")


def wrap(net: Any, file: Path | None = None, folder: Path | None = None,
         card: cards.ModelCard | None = None) -> LoadedModel:
    """A ``LoadedModel`` around an in-memory Keras model."""
    shape = tuple(int(v) for v in net.input_shape[1:])
    output = tuple(int(v) for v in net.output_shape[1:] if v is not None)
    _check_shapes(shape, output, file or net.name)
    card = card or cards.ModelCard(name=net.name)
    if not card.input.shape:   # a bare .keras file, or an old card: what the model itself says
        card.input = cards.InputSpec(list(shape), "uint8", "capstone" if shape[2] == 1 else "union")
    return LoadedModel(file or Path(f"<{net.name}>"), folder, net, card, shape, output)  # type: ignore[arg-type]


def save(net: Any, folder: str | Path) -> Path:
    """Write ``folder/model.keras`` atomically (no optimizer state: the file is for inference). Refuses the
    shipped models' folder."""
    folder = Path(folder)
    if paths.is_shipped(folder):
        raise ModelError(f"{folder}: the shipped models are read-only; save into another folder "
                         f"(training runs go to {paths.runs_dir()})")
    path = ModelFolder(folder).keras
    with atomic_path(path) as tmp:
        keras_tmp = tmp.with_name(tmp.name + ".keras")   # Keras insists on the .keras suffix
        try:
            with warnings.catch_warnings():  # Keras' own numpy-2 copy= deprecation noise while saving
                warnings.simplefilter("ignore", DeprecationWarning)
                net.save(keras_tmp)  # never compiled: no optimizer state in the file
            os.replace(keras_tmp, tmp)
        finally:
            keras_tmp.unlink(missing_ok=True)
    return path
