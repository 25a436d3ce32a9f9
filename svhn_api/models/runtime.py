"""Which runtime runs a model, and the ONNX sibling that lets ONNX Runtime run it without TensorFlow.

``model.keras`` is the source of truth: Keras trains and saves it. ``export(folder)`` writes ``model.onnx``
beside it, the same network as an ONNX graph (Keras 3's ``model.export(format="onnx")``, which needs
TensorFlow and tf2onnx: the ``[train]`` extra), checks both equal within ``TOLERANCE`` on random, synthetic
and (when the real SVHN material is beside the checkout) real photos, and records the check in the card
(``card.onnx``: both files' SHA-256, the largest difference seen, what it was checked on). The sibling is
*current* while both hashes match the files: a retrained ``model.keras`` leaves it stale until exported again.

``choose(folder)`` decides per model folder, from ``$SVHN_RUNTIME``: ``auto`` (the default: ONNX Runtime when
it is installed and the sibling current, else Keras), ``onnx`` (ONNX Runtime, else an error saying why) or
``keras``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import numpy as np

from svhn_api import paths
from svhn_api.atomic import atomic_path
from svhn_api.errors import ModelError
from svhn_api.models import card as cards
from svhn_api.models import provenance
from svhn_api.models.folder import ModelFolder

Runtime = Literal["onnxruntime", "keras"]
TOLERANCE = 1e-4          # the largest output difference an exported sibling may show
ENV = "SVHN_RUNTIME"
CHOICES = ("auto", "onnx", "keras")
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"
_THREADS: ContextVar[int | None] = ContextVar("svhn_onnx_threads", default=None)


def _onnxruntime() -> Any:
    """``onnxruntime``, imported with its telemetry off (``$ORT_DISABLE_TELEMETRY=1`` unless the environment says
    otherwise): on import it would otherwise write a device ID under ``~/.cache`` and, where that folder cannot
    be written (a read-only or missing home, e.g. a container run as a user without one), print "Failed to
    persist telemetry device ID" on stderr in every run. The variable is read when onnxruntime is first
    imported, so it is set here, the one place the library imports it."""
    os.environ.setdefault(TELEMETRY_ENV, "1")
    import onnxruntime

    return onnxruntime


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def requested() -> str:
    """``$SVHN_RUNTIME`` (``auto`` when unset); a value that is none of ``CHOICES`` is an error saying which."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise ModelError(f"${ENV}={value!r}: choose one of {', '.join(CHOICES)}")
    return value


def stale_reason(folder: Path, card: cards.ModelCard | None) -> str | None:
    """Why ``folder``'s ONNX sibling cannot stand in for its ``model.keras`` (None when it is current)."""
    record = card.onnx if card is not None else {}
    files, export = ModelFolder(folder), f"`svhn export {folder}`"
    if not files.onnx.is_file():
        return f"{folder} has no {files.ONNX} (export one: {export})"
    if not record:
        return f"{files.card} records no checked export of {files.ONNX} (run {export})"
    if record.get("keras_sha256") != provenance.sha256(files.keras):
        return f"{files.keras} changed since {files.ONNX} was exported (run {export})"
    if record.get("sha256") != provenance.sha256(files.onnx):
        return f"{files.onnx} is not the file that was checked (run {export})"
    return None


def choose(folder: Path | None, card: cards.ModelCard | None) -> Runtime:
    """The runtime for the model in ``folder`` (a bare .keras file, ``folder`` None, always runs on Keras)."""
    want = requested()
    if want == "keras":
        return "keras"
    why = "a bare .keras file has no ONNX sibling" if folder is None else stale_reason(folder, card)
    if why is None and not onnxruntime_installed():
        why = "onnxruntime is not installed (pip install onnxruntime)"
    if why is None:
        return "onnxruntime"
    if want == "onnx":
        raise ModelError(f"${ENV}=onnx, but {why}")
    return "keras"


def threads() -> int:
    """ONNX Runtime's intra-op threads for a call: every core, or one inside ``one_thread_per_call``."""
    return _THREADS.get() or max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def one_thread_per_call() -> Iterator[None]:
    """Within the block (in this thread), each model call runs on one thread: for callers that run one batch
    per core at once (``bulk.read_photos``), where more threads per call only contend for the same cores
    (the measurement: docs/benchmarks.md, bulk reading)."""
    token = _THREADS.set(1)
    try:
        yield
    finally:
        _THREADS.reset(token)


def session(path: Path, intra_op: int | None = None) -> Any:
    """An ONNX Runtime session on ``path`` (CPU, ``intra_op`` threads (default ``threads()``), not left spinning
    between calls)."""
    ort = _onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op or threads()
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - any failure to load is the same problem for the user
        raise ModelError(f"{path}: ONNX Runtime cannot load this file ({e.__class__.__name__}: {e}); run "
                         f"`svhn export {path.parent}` again, or set {ENV}=keras") from e


def shapes(sess: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(input shape, output shape)`` of a session, without the batch axis (-1 for a dimension the graph leaves
    open, which no svhn-reader model has)."""
    def fixed(shape: list[Any]) -> tuple[int, ...]:
        return tuple(v if isinstance(v, int) else -1 for v in shape[1:])

    return fixed(sess.get_inputs()[0].shape), fixed(sess.get_outputs()[0].shape)


def runner(path: Path, first: Any = None, dtype: Any = np.uint8) -> Callable[[np.ndarray], np.ndarray]:
    """``batch -> output`` through a session on ``path`` with ``threads()`` threads (one session per thread
    count, made on first use; ``first``: one already made); the batch is given to it as ``dtype``."""
    sessions: dict[int, Any] = {} if first is None else {first.get_session_options().intra_op_num_threads: first}
    lock = threading.Lock()

    def run(x: np.ndarray) -> np.ndarray:
        n = threads()
        if n not in sessions:
            with lock:
                if n not in sessions:
                    sessions[n] = session(path, n)
        sess = sessions[n]
        return sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, dtype=dtype)})[0]

    return run


@functools.lru_cache(maxsize=8)
def check_inputs(shape: tuple[int, ...], real: Path | None = None, count: int = 16) -> dict[str, np.ndarray]:
    """The inputs an export is checked on, by what they are: random pixels, flat and extreme images, synthetic
    house-number photos, and real SVHN test photos when ``real`` holds them; each resized to ``shape``."""
    from PIL import Image

    from svhn_api.synthetic.build import sample_rng
    from svhn_api.synthetic.render import render_sample

    h, w, c = shape
    rng = np.random.default_rng(0)

    def fit(img: Image.Image) -> np.ndarray:
        img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8).reshape(h, w, c)

    out = {"random pixels": rng.integers(0, 256, (count, h, w, c), dtype=np.uint8),
           "flat images (0, 128, 255)": np.stack([np.full((h, w, c), v, np.uint8) for v in (0, 128, 255)]),
           "synthetic photos": np.stack([fit(render_sample(sample_rng(0, "test", i), "test")[0])
                                         for i in range(count)])}
    photos = sorted((real / "images" / "test").glob("*.png"), key=lambda p: (len(p.stem), p.stem)) if real else []
    photos = photos[:count]
    if photos:
        out["real SVHN test photos"] = np.stack([fit(Image.open(p)) for p in photos])
    return out


def export(folder: str | os.PathLike, real: Path | None = None) -> dict[str, Any]:
    """Write ``folder/model.onnx`` from ``folder/model.keras``, check it equal, and record the check in the
    card; returns the record. ``ModelError`` when the export cannot be made or differs (nothing is written
    then). Needs Keras with TensorFlow and tf2onnx (the ``[train]`` extra)."""
    from svhn_api.models import io

    folder = Path(folder)
    missing = [m for m in ("tensorflow", "tf2onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelError(f"{folder}: exporting to ONNX needs {', '.join(missing)} (pip install "
                         "'svhn-reader[train]')")
    lm = io.load(folder, runtime="keras")
    from svhn_api.backend import import_keras

    if import_keras().backend.backend() != "tensorflow":
        raise ModelError(f"{folder}: exporting to ONNX needs the TensorFlow backend of Keras; run `svhn export "
                         f"{folder}` with KERAS_BACKEND=tensorflow")
    net = lm.keras_model
    net(np.zeros((1, *lm.input_shape), np.uint8))   # Keras exports only a model that has been called
    real = real if real is not None else paths.real_svhn_dir()
    inputs = check_inputs(lm.input_shape, real if real.is_dir() else None)
    target = ModelFolder(folder).onnx
    with atomic_path(target) as tmp:
        try:
            with warnings.catch_warnings():   # tf2onnx's own NumPy deprecation notices
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                net.export(str(tmp), format="onnx", verbose=False)
        except Exception as e:  # noqa: BLE001 - tf2onnx fails in many ways; all mean the same to the user
            raise ModelError(f"{ModelFolder(folder).keras}: the ONNX export failed ({e.__class__.__name__}: {e}); "
                             f"this model runs on Keras only") from e
        run = runner(tmp)
        worst = max(float(np.max(np.abs(run(x) - lm.run(x)))) for x in inputs.values())
        if not worst <= TOLERANCE:
            raise ModelError(f"{ModelFolder(folder).keras}: its ONNX export differs by {worst:.3g} (more than "
                             f"{TOLERANCE:g}); not written: this model runs on Keras only")
    record = {"file": ModelFolder.ONNX, "sha256": provenance.sha256(target),
              "keras_sha256": provenance.sha256(ModelFolder(folder).keras), "max_difference": worst,
              "tolerance": TOLERANCE,
              "checked_on": {k: len(v) for k, v in inputs.items()}, "exported": provenance.now(),
              "versions": {k: v for k, v in provenance.versions().items() if k in ("keras", "tensorflow",
                                                                                "tensorflow-cpu")}
              | {"tf2onnx": provenance.version_of("tf2onnx"), "onnxruntime": provenance.version_of("onnxruntime")}}

    def change(card: cards.ModelCard | None) -> cards.ModelCard:
        card = card or cards.ModelCard(name=folder.name)
        card.onnx = record
        return card

    cards.update(folder, change)
    return record
