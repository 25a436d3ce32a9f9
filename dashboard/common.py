"""What every page shares: where data and models live, the store and model picked in the sidebar, and the
cached calls into ``svhn_api`` (loaded once per server process, not once per click).

Locations follow ``svhn_api.paths``, as for the command line: ``SVHN_DATA`` a store file or a folder of stores
(default ``./data``); the models are the shipped ones plus the training runs in ``SVHN_RUNS`` (default
``./runs``). When the data folder holds no store, the embedded synthetic sample goes into
``<data folder>/synthetic/`` on first run: a quick one at once (in ``synthetic/quick/``, beside its archives),
the full one in the background (``dashboard.first_run``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from dashboard import first_run, view_model
from svhn_api import paths
from svhn_api.errors import SVHNError

STORE_KEY, MODEL_KEY, SWITCH_KEY = "store_path", "model_dir", "switch_store"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the same bound as server.maxUploadSize in .streamlit/config.toml


def data_location() -> Path:
    return paths.data_dir()


def models_where() -> str:
    """The folders models are listed from, for messages."""
    return " and ".join(f"`{shown_path(p)}`" for p in view_model.model_folders())


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


# ------------------------------------------------------------------------------------------ cached calls


@st.cache_resource(show_spinner=False)
def full_sample_job(data_dir: str) -> first_run.SampleJob:
    """The full synthetic sample's background job: one per process and data folder, seen by every session."""
    return first_run.SampleJob(Path(data_dir)).start(first_run.background_jobs())


_QUICK_LOCK = threading.Lock()   # concurrent first visits wait for one quick sample


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


def runtime_line(result: Any) -> str:
    """Which runtime ran each model of a reading, in words."""
    ran = getattr(result, "runtime", {}) or {}
    names = {"onnxruntime": "ONNX Runtime", "keras": "Keras"}
    by_runtime: dict[str, list[str]] = {}
    for role, runtime in ran.items():
        by_runtime.setdefault(names.get(runtime, runtime), []).append(role)
    return ("Read on " + "; ".join(f"{rt} ({', '.join(roles)})" for rt, roles in by_runtime.items())) if ran else ""


@st.cache_resource(show_spinner="Loading the model in Keras…", max_entries=2)
def _keras_model(model_dir: str, version: float) -> Any:
    """The model on Keras (for the picture its own input layer computes), loaded once per process."""
    from svhn_api.models.io import load

    return load(model_dir, runtime="keras")


def model(entry: view_model.ModelEntry) -> Any:
    return load_model(str(entry.path), mtime(entry.path / "model.keras"))


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
        loaded = _keras_model(str(entry.path), mtime(entry.path / "model.keras"))
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
                *, photo: bool = True, name: str | None = None) -> tuple[Any, float]:
    """The model's reading of one image and the seconds it took (model already loaded): a photo (with an
    optional number box; without one the localizer finds it), or with ``photo=False`` a stored crop.
    Errors name the image ``name`` (e.g. the upload's file name)."""
    from svhn_api.inference.predict import predict

    net = model(entry)
    t0 = time.perf_counter()
    result = predict([image], model=net, boxes=[box] if box is not None else None,
                     localizer=None if photo else False, errors="return", names=[name] if name else None)[0]
    seconds = time.perf_counter() - t0
    if result.error:
        raise SVHNError(result.error)
    return result, seconds


FALLBACK_UNSURE = 0.5   # for a model without a calibrated threshold: under this, the reading is a guess


def is_unsure(result: Any) -> bool:
    """The reading is flagged by its model's calibrated threshold, or (uncalibrated) is under 50%."""
    return bool(result.unsure) or float(result.confidence) < FALLBACK_UNSURE


@st.cache_data(show_spinner=False, max_entries=64)
def samples_for(path: str, version: float, split: str, indices: tuple[int, ...]) -> list[view_model.Sample]:
    return view_model.sample_grid(path, split, indices, scale=2, draw=False)


def _evaluate(model_dir: str, model_version: float, path: str, split: str, samples: int | None, seed: int,
              on_progress: Any = None, whole_photo: bool = False) -> dict[str, Any]:
    from svhn_api.inference.evaluate import evaluate

    # record=False: browsing the dashboard must not write to the (shipped) model card
    return evaluate(load_model(model_dir, model_version), path, split=split, samples=samples, seed=seed,
                    progress=False, record=False, on_progress=on_progress, whole_photo=whole_photo)


@st.cache_data(show_spinner=False, max_entries=32)
def _evaluation(model_dir: str, model_version: float, path: str, version: float, split: str,
                samples: int | None, seed: int) -> dict[str, Any]:
    return _evaluate(model_dir, model_version, path, split, samples, seed)


def evaluation(entry: view_model.ModelEntry, path: str, split: str, samples: int | None = 64,
               seed: int = 0) -> dict[str, Any]:
    """``evaluate`` on ``samples`` random rows, cached per model and store version."""
    return _evaluation(str(entry.path), mtime(entry.path / "model.keras"), path, mtime(path), split, samples,
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
    return (str(entry.path), mtime(entry.path / "model.keras"), path, mtime(path), split, whole_photo)


def known_full_evaluation(entry: view_model.ModelEntry, path: str, split: str,
                          whole_photo: bool = False) -> dict[str, Any] | None:
    """The whole-split result already computed in this process (by any session), or None."""
    return full_results().get(full_key(entry, path, split, whole_photo))


def full_evaluation(entry: view_model.ModelEntry, path: str, split: str, bar: Any,
                    whole_photo: bool = False) -> dict[str, Any]:
    """The whole split, computed once per process and model/store version; the ``st.progress`` bar moves as
    batches are done (here or in the session computing it). ``whole_photo``: also each row's original photo
    read whole, the localizer finding the number."""
    n = view_model.inspect_store(path).counts.get(split, 0)
    key = full_key(entry, path, split, whole_photo)

    def on_progress(done: int, total: int | None = None) -> None:
        total = total or n
        bar.progress(min(1.0, done / max(1, total)), text=f"Evaluating {split}: {done:,} of {total:,} images")

    def work(report: Any) -> dict[str, Any]:
        return _evaluate(key[0], key[1], path, split, None, 0, report, whole_photo)

    return full_results().compute(key, work, on_progress)


# ------------------------------------------------------------------------------------------ selection


def init_data() -> None:
    """Make sure there is data to show. A data folder without a store gets the embedded synthetic sample: the
    bundled one when there is one (the Docker image), else a quick sample now (seconds) and the full sample
    in the background (``dashboard.first_run``)."""
    location = data_location()
    found, _ = stores(str(location))
    if location.suffix == ".h5" or any(not first_run.is_quick(e.path) for e in found):
        return  # an explicit store file, or stores of the user's own: nothing is rendered
    try:
        if first_run.copy_bundled(location):
            stores.clear()
            return
        if not found:
            _prepare_quick(location)
            stores.clear()
    except PermissionError as e:
        st.error(f"Cannot write the data folder {location} ({e.strerror}: {e.filename}). Make it writable by "
                 f"this user (uid {os.getuid() if hasattr(os, 'getuid') else '?'}), or point SVHN_DATA at a "
                 "writable folder. In Docker: run with --user \"$(id -u):$(id -g)\" for a host folder, or use a "
                 "named volume (-v svhn-data:/app/data).")
        st.stop()
    full_sample_job(str(location))


def _prepare_quick(location: Path) -> None:
    with st.status("First run: rendering a quick sample of synthetic house numbers (a few seconds; the full "
                   "6,000-photo sample follows in the background)…", expanded=True) as status:
        bar, t0 = st.progress(0.0, text="starting"), time.perf_counter()

        def on_progress(stage: str, done: int, total: int) -> None:
            spent = time.perf_counter() - t0
            left = f", about {spent * (total - done) / done:.0f} s left" if done and total and stage.startswith(
                "render") else ""
            bar.progress(min(1.0, done / total) if total else 0.0,
                         text=f"{stage}: {done:,} of {total:,} photos ({spent:.0f} s{left})")

        try:
            with _QUICK_LOCK:
                print(f"svhn-reader: first run: rendering a quick synthetic sample into {location}",
                      file=sys.stderr, flush=True)
                path = first_run.prepare_quick(location, on_progress=on_progress)
        except SVHNError as e:
            status.update(label="Could not prepare the synthetic data", state="error")
            st.error(str(e))
            st.stop()
        status.update(label=f"Quick sample ready: {shown_path(path)} ({time.perf_counter() - t0:.0f} s)",
                      state="complete", expanded=False)


@st.fragment(run_every=2)
def _full_sample_progress(location: str) -> None:
    """In the sidebar while the full sample is prepared; when it is ready, the app reruns on it."""
    job = full_sample_job(location)
    if job.running:
        frac = min(1.0, job.done / job.total) if job.total else 0.0
        st.progress(frac, text=f"Full synthetic sample, {job.describe()}")
        st.caption("The quick sample is shown meanwhile; the full one replaces it when it is ready.")
    elif job.error:
        st.caption(f"The full synthetic sample was not prepared ({job.error}); the quick sample stays. Prepare it "
                   "with `python -m svhn_api prepare --source synthetic`.")
    else:
        stores.clear()
        st.session_state[SWITCH_KEY] = str(first_run.full_store(location))
        st.rerun(scope="app")


def sidebar_pickers() -> None:
    """The store and model pickers (in the sidebar, on every page)."""
    found, broken = stores(str(data_location()))
    with st.sidebar:
        st.markdown("### Data and model")
        if found:
            paths = [str(e.path) for e in found]
            if st.session_state.get(SWITCH_KEY) in paths:   # the full sample replaces the quick one
                st.session_state[STORE_KEY] = st.session_state.pop(SWITCH_KEY)
            if st.session_state.get(STORE_KEY) not in paths:
                st.session_state[STORE_KEY] = paths[0]
            labels = {str(e.path): e.label for e in found}
            st.selectbox("Store", paths, key=STORE_KEY, format_func=labels.get,
                         help="Prepared stores found in the data folder; a real SVHN store "
                         "(`python -m svhn_api prepare`) appears here once it exists.")
        else:
            st.warning(f"No prepared store in {data_location()}.")
        for msg in broken:
            st.caption(f"skipped: {msg}")
        location = data_location()
        if found and all(first_run.is_quick(e.path) for e in found) and location.suffix != ".h5":
            _full_sample_progress(str(location))
        ms = [m for m in models() if m.ready]
        if ms:
            dirs = [str(m.path) for m in ms]
            if st.session_state.get(MODEL_KEY) not in dirs:
                st.session_state[MODEL_KEY] = dirs[0]
            names = {str(m.path): m.name for m in ms}
            st.selectbox("Model", dirs, key=MODEL_KEY, format_func=names.get,
                         help="The shipped models, then your training runs (`runs/<name>`, in $SVHN_RUNS).")
        else:
            st.info(f"No trained model in {models_where()} yet.")


def current_store() -> view_model.StoreEntry | None:
    found, _ = stores(str(data_location()))
    chosen = st.session_state.get(STORE_KEY)
    return next((e for e in found if str(e.path) == chosen), found[0] if found else None)


def current_model() -> view_model.ModelEntry | None:
    ms = [m for m in models() if m.ready]
    chosen = st.session_state.get(MODEL_KEY)
    return next((m for m in ms if str(m.path) == chosen), ms[0] if ms else None)


def require_store() -> view_model.StoreEntry:
    entry = current_store()
    if entry is None:
        st.warning("No prepared store yet: run `python -m svhn_api prepare --source synthetic` "
                   "(or `prepare` for the official SVHN archives), then reload.")
        st.stop()
    return entry


def no_rows(store: view_model.StoreEntry, split: str | None = None) -> None:
    """Stop the page with a warning: the store has no rows (in ``split``, or at all), and how to fix it."""
    where = f"no rows in its {split} split" if split else "no rows at all"
    st.warning(f"The store {store.path} has {where}, so there is nothing to show here. Prepare it again "
               "(`python -m svhn_api prepare --source synthetic`, or `prepare` for the official SVHN archives) "
               "or pick another store in the sidebar, then reload.")
    st.stop()


def require_model() -> view_model.ModelEntry:
    entry = current_model()
    if entry is None:
        st.warning(f"No trained model in {models_where()}. Train one with "
                   "`python -m svhn_api train --data data/synthetic/synthetic_union.h5 --model compact` "
                   "(see the Training page), then reload.")
        st.stop()
    return entry


def shown_path(path: str | Path) -> str:
    """``path`` relative to the working folder when inside it (for commands to paste in the same folder that
    the dashboard runs in, where the default locations are), else absolute."""
    p, here = Path(path).resolve(), Path.cwd().resolve()
    return str(p.relative_to(here)) if p.is_relative_to(here) else str(p)


def unsure_line(result: Any) -> str:
    return ("this model's calibrated threshold for a reliable reading" if result.unsure else
            f"{percent(FALLBACK_UNSURE)} (this model has no calibrated threshold)")


def percent(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"
