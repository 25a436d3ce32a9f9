"""The dashboard's cached calls into ``svhn_api``: stores and models listed, models loaded, samples, readings
and evaluations, each computed once per server process (or per file version), not once per click."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from dashboard import first_run, view_model
from svhn_api.errors import ImageError, SVHNError
from svhn_api.models.folder import ModelFolder

if TYPE_CHECKING:
    from svhn_api.inference.evaluate import Evaluation
    from svhn_api.inference.predict import Pipeline

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the same bound as server.maxUploadSize in .streamlit/config.toml


def keep_keras_state() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit does it for apps that build models inside the script. This app loads its models once per
    process (``load_model``), and the call threw away TensorFlow's compiled functions of both models, so
    every reading paid for rebuilding them (200-400 ms a reading instead of about 10). Streamlit offers no
    option for it; if a Streamlit version moves the hook, this does nothing and the app stays correct.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        return
    if callable(getattr(script_runner, "_clean_problem_modules", None)):
        script_runner._clean_problem_modules = _no_cleanup


def _no_cleanup() -> None:
    """In place of Streamlit's post-run clean-up: nothing in this app needs Keras or matplotlib state reset."""


@st.cache_resource(show_spinner=False)
def full_sample_job(data_dir: str) -> first_run.SampleJob:
    """The full synthetic sample's background job: one per process and data folder, seen by every session."""
    return first_run.SampleJob(Path(data_dir)).start(first_run.background_jobs())


@st.cache_data(ttl=60, show_spinner=False)
def stores(location: str) -> tuple[list[view_model.StoreEntry], list[str]]:
    return view_model.list_stores(location)


@st.cache_data(ttl=60, show_spinner=False)
def _models(shipped: str, runs: str) -> list[view_model.ModelEntry]:
    return view_model.all_models(shipped, runs)


def models() -> list[view_model.ModelEntry]:
    """The shipped models, then the training runs (``runs/<name>``), with or without a saved model yet."""
    return _models(*(str(p) for p in view_model.model_folders()))


def mtime(path: str | Path) -> float:
    """A file's modification time: passed to the cached calls so that a rewritten file is read again."""
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner="Counting…", max_entries=8)
def store_stats(path: str, version: float) -> dict[str, Any]:
    return view_model.store_stats(path)


@st.cache_data(show_spinner=False, max_entries=64)
def sample_grid(path: str, version: float, split: str, length: int | None, n: int, seed: int,
                scale: int = 2) -> list[view_model.Sample]:
    idx = view_model.sample_indices(path, split, n, length=length, seed=seed)
    return view_model.sample_grid(path, split, idx, scale=scale)


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def load_model(model_dir: str, version: float) -> Any:
    """The model, loaded once per process (``predict`` and ``evaluate`` take it in place of a path), on ONNX
    Runtime when it has a current ONNX sibling (no TensorFlow in the process), else on Keras."""
    from svhn_api.inference.predict import predict
    from svhn_api.models.io import load

    loaded = load(model_dir)
    if loaded.task == "read" and loaded.card.input.crop == "union":
        # one reading of a blank photo now, so that the first real one does not pay for tracing the reader
        # and the localizer (a second or more)
        predict(np.zeros((96, 128, 3), np.uint8), model=loaded)
    return loaded


def keras_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("keras") is not None


@st.cache_resource(show_spinner="Loading the model in Keras…", max_entries=2)
def _keras_model(model_dir: str, version: float) -> Any:
    """The model on Keras (for the picture its own input layer computes), loaded once per process."""
    from svhn_api.models.io import load

    return load(model_dir, runtime="keras")


def model(entry: view_model.ModelEntry) -> Any:
    return load_model(str(entry.path), mtime(ModelFolder(entry.path).keras))


@st.cache_data(show_spinner=False, max_entries=8)
def gallery(path: str, version: float, split: str = "test", n: int = 200) -> list[view_model.Sample]:
    """The first ``n`` images of ``split``, as they are stored (no boxes drawn)."""
    count = view_model.inspect_store(path).counts.get(split, 0)
    return view_model.sample_grid(path, split, range(min(n, count)), scale=1, draw=False)


def network_input(entry: view_model.ModelEntry | None, stored: np.ndarray
                  ) -> tuple[Any, dict[str, Any] | None, str]:
    """What the network's first layer receives for ``stored``, the crop/size/gray/norm of the selected model's
    input layer (read from the loaded model; None without one) and where the picture came from."""
    if entry is None:
        return view_model.model_receives(stored), None, "no model selected: the stored crop as it is"
    try:
        loaded = model(entry)
    except SVHNError as e:
        return view_model.model_receives(stored), None, f"{entry.name} did not load: {e}"
    if loaded.keras_model is None and keras_installed():   # on ONNX Runtime: the exact picture needs Keras
        loaded = _keras_model(str(entry.path), mtime(ModelFolder(entry.path).keras))
    if loaded.keras_model is None:   # no Keras here: the input layer's settings come from the .keras file
        config = view_model.input_config_in_file(loaded.path)
        if config is None:
            return view_model.model_receives(stored), None, f"{entry.name} has no input layer"
        return (view_model.model_receives(stored, **config), config,
                f"as {entry.name}'s input layer does it (approximated: Keras is not installed here)")
    got = view_model.network_input(loaded.keras_model, stored)
    if got is None:
        return view_model.model_receives(stored), None, f"{entry.name} has no input layer"
    image, config, exact = got
    return image, config, (f"computed by {entry.name}'s own input layer" if exact else
                           f"as {entry.name}'s input layer does it, approximated for this image shape")


def read_number(entry: view_model.ModelEntry, image: Any, box: tuple[float, float, float, float] | None = None,
                *, photo: bool = True, name: str | None = None, pipeline: Pipeline | None = None) -> tuple[Any, float]:
    """The model's reading of one image and the seconds it took (model already loaded): a photo (with an
    optional number box; without one the localizer finds it), or with ``photo=False`` a stored crop.
    Errors name the image ``name`` (e.g. the upload's file name): an ``ImageError`` is the image's fault, a
    ``ModelError`` a model's (``predict`` raises it). ``pipeline``: ``"full"`` or ``"fast"`` (None: predict's
    default)."""
    from svhn_api.inference.predict import predict

    net = model(entry)
    t0 = time.perf_counter()
    result = predict([image], model=net, boxes=[box] if box is not None else None,
                     localizer=None if photo else False, errors="return", names=[name] if name else None,
                     pipeline=pipeline)[0]
    seconds = time.perf_counter() - t0
    if result.error:   # errors="return" keeps only what is wrong with the image
        raise ImageError(result.error)
    return result, seconds


@st.cache_data(show_spinner=False, max_entries=64)
def samples_for(path: str, version: float, split: str, indices: tuple[int, ...]) -> list[view_model.Sample]:
    return view_model.sample_grid(path, split, indices, scale=2, draw=False)


def _evaluate(model_dir: str, model_version: float, path: str, split: str, samples: int | None, seed: int,
              on_progress: Any = None, whole_photo: bool = False) -> Evaluation:
    from svhn_api.inference.evaluate import evaluate

    # record=False: browsing the dashboard must not write to the (shipped) model card
    return evaluate(load_model(model_dir, model_version), path, split=split, samples=samples, seed=seed,
                    progress=False, record=False, on_progress=on_progress, whole_photo=whole_photo)


@st.cache_data(show_spinner=False, max_entries=32)
def _evaluation(model_dir: str, model_version: float, path: str, version: float, split: str,
                samples: int | None, seed: int) -> Evaluation:
    return _evaluate(model_dir, model_version, path, split, samples, seed)


def evaluation(entry: view_model.ModelEntry, path: str, split: str, samples: int | None = 64,
               seed: int = 0) -> Evaluation:
    """``evaluate`` on ``samples`` random rows, cached per model and store version."""
    return _evaluation(str(entry.path), mtime(ModelFolder(entry.path).keras), path, mtime(path), split, samples,
                       seed)


@st.cache_resource(show_spinner=False)
def full_results() -> view_model.SharedResults:
    """The whole-split evaluations of this server process, shared by every session.

    Not ``st.cache_data``: its replay of elements made inside a cached call broke the second press of a button
    (``CacheReplayClosureError``) since the progress bar is made outside it; and two sessions pressing at once
    would both have computed it. Here one computes, the other waits, watching the same progress."""
    return view_model.SharedResults(max_entries=16)


def full_key(entry: view_model.ModelEntry, path: str, split: str, whole_photo: bool = False) -> tuple:
    """What a whole-split result depends on: the model and the store (by path and version), split and mode."""
    return (str(entry.path), mtime(ModelFolder(entry.path).keras), path, mtime(path), split, whole_photo)


def known_full_evaluation(entry: view_model.ModelEntry, path: str, split: str,
                          whole_photo: bool = False) -> Evaluation | None:
    """The whole-split result already computed in this process (by any session), or None."""
    return full_results().get(full_key(entry, path, split, whole_photo))


def full_evaluation(entry: view_model.ModelEntry, path: str, split: str, bar: Any,
                    whole_photo: bool = False) -> Evaluation:
    """The whole split, computed once per process and model/store version; the ``st.progress`` bar moves as
    batches are done (here or in the session computing it). ``whole_photo``: also each row's original photo
    read whole, the localizer finding the number."""
    n = view_model.inspect_store(path).counts.get(split, 0)
    key = full_key(entry, path, split, whole_photo)

    def on_progress(done: int, total: int | None = None) -> None:
        total = total or n
        bar.progress(min(1.0, done / max(1, total)), text=f"Evaluating {split}: {done:,} of {total:,} images")

    def work(report: Any) -> Evaluation:
        return _evaluate(key[0], key[1], path, split, None, 0, report, whole_photo)

    return full_results().compute(key, work, on_progress)
