"""Data for a fresh clone: the embedded synthetic sample, ready in seconds.

A data folder without a store gets, in order of what is fastest:
1. the bundled sample (``$SVHN_BUNDLED_SAMPLE``: a folder holding ``synthetic/``, rendered when the Docker
   image was built), copied in, and its store prepared from its archives when the bundle holds none;
2. else a quick sample (``QUICK_SAMPLE``, 300 photos: seconds) rendered and prepared at once, so the
   dashboard can open, and the full sample (``data.synthetic_archives.SAMPLE``, 6,000 photos: a minute or two)
   prepared behind it by a ``SampleJob`` thread that reports its progress (to the page and the terminal).

Nothing here imports Streamlit; ``dashboard.selection`` shows the progress.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from svhn_api.atomic import atomic_path
from svhn_api.data.store import inspect as inspect_store
from svhn_api.errors import DataError

SYNTHETIC = Path("synthetic")                        # relative to the data folder
FULL_STORE = SYNTHETIC / "synthetic_union.h5"
# the quick sample in a folder of its own, its archives beside its store where ``svhn_api.data.photos.find_archive``
# looks first (the Preprocessing check's original photos, whole-photo evaluation); beside the full store it would
# find the full sample's archives, other photos under the same names
QUICK_STORE = SYNTHETIC / "quick" / "synthetic_quick_union.h5"
QUICK_ARCHIVES = SYNTHETIC / "quick" / "archives"
QUICK_SAMPLE = {"train": 200, "test": 100}
BUNDLED_ENV = "SVHN_BUNDLED_SAMPLE"
Progress = Callable[[str, int, int], None]


def full_store(data_dir: str | Path) -> Path:
    return Path(data_dir) / FULL_STORE


def quick_store(data_dir: str | Path) -> Path:
    return Path(data_dir) / QUICK_STORE


def is_quick(path: str | Path) -> bool:
    return Path(path).name == QUICK_STORE.name


def ready(store: Path) -> bool:
    try:
        inspect_store(store)
        return True
    except DataError:
        return False


def bundled_sample() -> Path | None:
    """The bundled sample's folder (``$SVHN_BUNDLED_SAMPLE``), when it holds the sample's store or its archives."""
    from svhn_api.data.prepare import ARCHIVE_NAMES

    bundled = os.environ.get(BUNDLED_ENV)
    if not bundled:
        return None
    folder = Path(bundled)
    archives = folder / SYNTHETIC / "archives"
    if ready(folder / FULL_STORE) or all((archives / f"{s}.tar.gz").is_file() for s in ARCHIVE_NAMES):
        return folder
    return None


def copy_bundled(data_dir: str | Path, on_progress: Progress | None = None) -> Path | None:
    """Copy the bundled sample's ``synthetic/`` folder into ``data_dir`` and return its store's path there, or
    None without a bundled sample. Without a store in the bundle (the Docker image holds only the archives),
    the store is prepared from the copied archives (seconds). The store is copied last, so an interrupted copy
    is redone."""
    bundled = bundled_sample()
    if bundled is None:
        return None
    if ready(full_store(data_dir)):   # a session that waited for another's first run: nothing left to do
        return full_store(data_dir)
    source, target = bundled / SYNTHETIC, Path(data_dir) / SYNTHETIC
    files = sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: p.name == FULL_STORE.name)
    for src in files:
        dst = target / src.relative_to(source)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
    return prepare_full(data_dir, on_progress=on_progress)


def prepare_quick(data_dir: str | Path, on_progress: Progress | None = None) -> Path:
    """The quick sample's store (rendered and prepared now, in seconds, unless it is there)."""
    from svhn_api.data.prepare import prepare

    out = quick_store(data_dir)
    if not ready(out):
        # jobs=1 to prepare: for a few hundred photos, starting worker processes costs more than it saves
        from svhn_api.data.synthetic_archives import synth

        archives = Path(data_dir) / QUICK_ARCHIVES
        if not all((archives / f"{s}.tar.gz").is_file() for s in QUICK_SAMPLE):
            synth(archives, **{"extra": 0, **QUICK_SAMPLE}, progress=False, on_progress=on_progress)
        prepare(archives, source="synthetic", splits=tuple(QUICK_SAMPLE), out=out, jobs=1, progress=False,
                on_progress=on_progress)
    return out


def prepare_full(data_dir: str | Path, jobs: int = -1, on_progress: Progress | None = None) -> Path:
    """The full embedded sample's store (a minute or two on 2 cores unless it is there)."""
    from svhn_api.data.prepare import prepare

    out = full_store(data_dir)
    if not ready(out):
        prepare(Path(data_dir) / SYNTHETIC / "archives", source="synthetic", out=out, jobs=jobs, progress=False,
                on_progress=on_progress)
    return out


class Cancelled(Exception):
    """Raised inside a ``SampleJob``'s work when it is cancelled."""


@dataclass
class SampleJob:
    """The full sample, prepared on a background thread; its progress is readable at any time."""

    data_dir: Path
    stage: str = "starting"
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    stage_started: float = field(default_factory=time.monotonic)
    path: Path | None = None
    error: str | None = None
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    _cancel: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _logged: float = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, jobs: int) -> SampleJob:
        STARTED.append(self)
        self._thread = threading.Thread(target=self._run, args=(jobs,), name="svhn-full-sample", daemon=True)
        self._thread.start()
        return self

    def _run(self, jobs: int) -> None:
        self.log(f"svhn-reader: preparing the full synthetic sample in {self.data_dir} in the background")
        try:
            self.path = prepare_full(self.data_dir, jobs=jobs, on_progress=self.report)
            self.log(f"svhn-reader: the full synthetic sample is ready: {self.path} "
                     f"({time.monotonic() - self.started:.0f} s)")
        except Cancelled:
            self.error = "cancelled"
        except Exception as e:  # noqa: BLE001 - shown in the page and the terminal, not lost in a thread
            self.error = f"{e.__class__.__name__}: {e}"
            self.log(f"svhn-reader: could not prepare the full synthetic sample: {self.error}")

    def report(self, stage: str, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise Cancelled
        if stage != self.stage:
            self.stage, self.stage_started = stage, time.monotonic()
        self.done, self.total = done, total
        if time.monotonic() - self._logged >= 5 or (total and done == total):
            self._logged = time.monotonic()
            self.log(f"svhn-reader: {self.describe()}")

    def seconds_left(self) -> float | None:
        """For the current stage, from its pace so far."""
        spent = time.monotonic() - self.stage_started
        if not self.total or not self.done or spent < 1:
            return None
        return spent * (self.total - self.done) / self.done

    def describe(self) -> str:
        left = self.seconds_left()
        count = f"{self.done:,} of {self.total:,} photos" if self.total else "starting"
        return f"{self.stage}: {count}" + (f" (this step: about {left:.0f} s left)" if left is not None else "")

    def cancel(self, wait: float = 60) -> None:
        """Stop at the next progress report (files already written stay; a rerun goes on from them)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(wait)


STARTED: list[SampleJob] = []   # every job this process started, for cancel_all


def cancel_all() -> None:
    """Stop every background job of this process (a test's clean-up, a shutdown)."""
    for job in STARTED:
        job.cancel()


def background_jobs() -> int:
    """Leave a core to the dashboard while the full sample renders."""
    return max(1, (os.cpu_count() or 1) - 1)
