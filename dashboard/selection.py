"""What the pages read from: the data location and its first-run sample, and the store and model picked in
the sidebar.

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

import streamlit as st

from dashboard import first_run, view_model
from dashboard.calls import full_sample_job, models, stores
from dashboard.wording import shown_path
from svhn_api import paths
from svhn_api.errors import SVHNError

_QUICK_LOCK = threading.Lock()   # concurrent first visits wait for one quick sample
STORE_KEY, MODEL_KEY, SWITCH_KEY = "store_path", "model_dir", "switch_store"


def data_location() -> Path:
    return paths.data_dir()


def models_where() -> str:
    """The folders models are listed from, for messages."""
    return " and ".join(f"`{shown_path(p)}`" for p in view_model.model_folders())


def init_data() -> None:
    """Make sure there is data to show. A data folder without a store gets the embedded synthetic sample: the
    bundled one when there is one (the Docker image), else a quick sample now (seconds) and the full sample
    in the background (``dashboard.first_run``)."""
    location = data_location()
    found, _ = stores(str(location))
    if location.suffix == ".h5" or any(not first_run.is_quick(e.path) for e in found):
        return  # an explicit store file, or stores of the user's own: nothing is rendered
    try:
        if _copy_bundled(location):
            stores.clear()
            return
        if not found:
            _prepare_quick(location)
            stores.clear()
    except PermissionError as e:
        st.error(f"Cannot write the data folder {location} ({e.strerror}: {e.filename}). Make it writable by "
                 f"this user (uid {os.getuid() if hasattr(os, 'getuid') else '?'}), or point SVHN_DATA at a "
                 "writable folder. In Docker: run with `--user \"$(id -u):$(id -g)\"` for a host folder, or use "
                 "a named volume (`-v svhn-data:/app/data`).")
        st.stop()
    full_sample_job(str(location))


def _copy_bundled(location: Path) -> Path | None:
    """The bundled sample copied in, its store prepared from its archives when it has none (a few seconds)."""
    if first_run.bundled_sample() is None:
        return None
    with st.status("First run: preparing the bundled sample of synthetic house numbers (a few seconds)…",
                   expanded=True) as status:
        bar = st.progress(0.0, text="copying")

        def on_progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(1.0, done / total) if total else 0.0, text=f"{stage}: {done:,} of {total:,} photos")

        try:
            with _QUICK_LOCK:
                path = first_run.copy_bundled(location, on_progress=on_progress)
        except SVHNError as e:
            status.update(label="Could not prepare the bundled sample", state="error")
            st.error(str(e))
            st.stop()
        status.update(label="Bundled sample ready", state="complete", expanded=False)
    return path


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
            names = view_model.store_names(found)
            st.selectbox("Store", paths, key=STORE_KEY, format_func=names.__getitem__,
                         help="Prepared stores found in the data folder; a real SVHN store "
                         "(`python -m svhn_api prepare`) appears here once it exists.")
            chosen = next(e for e in found if str(e.path) == st.session_state[STORE_KEY])
            st.caption(f"{chosen.details} · `{shown_path(chosen.path)}`")
        else:
            st.warning(f"No prepared store in {data_location()}.")
        for msg in broken:
            st.caption(f"skipped: {msg}")
        location = data_location()
        if found and all(first_run.is_quick(e.path) for e in found) and location.suffix != ".h5":
            _full_sample_progress(str(location))
        found_models = models()
        ms = view_model.readers(found_models)
        if ms:
            dirs = [str(m.path) for m in ms]
            if st.session_state.get(MODEL_KEY) not in dirs:
                st.session_state[MODEL_KEY] = dirs[0]
            names = {str(m.path): m.name for m in ms}
            st.selectbox("Reader", dirs, key=MODEL_KEY, format_func=names.__getitem__,
                         help="The model that reads the numbers on every page: the shipped readers, then your "
                         "training runs (`runs/<name>`, in `$SVHN_RUNS`). Localizers, detectors and digit "
                         "classifiers are not readers and are not offered here.")
        else:
            st.info(f"No trained reader in {models_where()} yet.")
        helpers = view_model.helper_models(found_models)
        if helpers:
            st.caption("Not readers: " + "; ".join(helpers) + ".")


def current_store() -> view_model.StoreEntry | None:
    found, _ = stores(str(data_location()))
    chosen = st.session_state.get(STORE_KEY)
    return next((e for e in found if str(e.path) == chosen), found[0] if found else None)


def current_model() -> view_model.ModelEntry | None:
    """The reader picked in the sidebar (never a localizer, detector or digit classifier), or None."""
    ms = view_model.readers(models())
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
        st.warning(f"No trained reader in {models_where()}. Train one with "
                   "`python -m svhn_api train --data data/synthetic/synthetic_union.h5 --model compact` "
                   "(see the Training page), then reload.")
        st.stop()
    return entry
