"""Loading Keras (and its backend) quietly: the one place that imports it for the library.

TensorFlow writes start-up lines (absl's "All log messages before absl::InitializeLog()", the
``cpu_feature_guard`` instruction-set notice, the oneDNN banner, CUDA plug-in registration errors on
machines without a GPU) from C++ straight to the process's standard error, file descriptor 2, where no
Python setting reaches them. ``import_keras()`` therefore

- sets ``TF_CPP_MIN_LOG_LEVEL=2`` (TensorFlow's INFO and WARNING lines off, errors kept) unless the user set
  it: an explicit setting always wins. ``TF_ENABLE_ONEDNN_OPTS`` is left alone (it changes the numerics);
- during the first import only, reads file descriptor 2 through a pipe and drops the known start-up lines
  (``NOISE``), passing every other line through unchanged and in order. With ``TF_CPP_MIN_LOG_LEVEL=0``
  nothing is dropped: the user asked for everything.

Nothing here imports Keras at module level: ``import svhn_api`` stays light.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import types
from collections.abc import Iterator

ENV_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2"}
NOISE = re.compile(
    rb"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|cpu_feature_guard\.cc"
    rb"|This TensorFlow binary is optimized to use available CPU instructions"
    rb"|^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"
    rb"|oneDNN custom operations are on"
    rb"|Unable to register cu(DNN|FFT|BLAS) factory"
    rb"|computation_placer\.cc.*already registered"
    rb"|TF-TRT Warning: Could not find TensorRT"
    rb"|Could not find cuda drivers on your machine"
    rb"|failed call to cuInit"
)
_LOCK = threading.Lock()


def import_keras() -> types.ModuleType:
    """``keras``, imported once per process without TensorFlow's start-up chatter on stderr. ``ModelError``
    saying what to install when it (or its backend) is not installed: reading runs without it on ONNX Runtime,
    training and exporting need it."""
    if sys.modules.get("keras") is not None:
        import keras

        return keras
    with _LOCK:
        for name, value in ENV_DEFAULTS.items():
            os.environ.setdefault(name, value)
        quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() != "0"
        try:
            with filtered_stderr() if quiet else contextlib.nullcontext():
                import keras
        except ImportError as e:
            from svhn_api.errors import ModelError

            raise ModelError(f"this needs Keras and its backend ({e}): pip install 'svhn-reader[train]' (in a "
                             "checkout: pip install -r requirements-train.lock); reading needs neither when the "
                             "model has a current ONNX sibling (svhn export, on a machine with Keras)") from e
    return keras


def _pump(read_fd: int, out_fd: int) -> None:
    """Copy lines from ``read_fd`` to ``out_fd`` until end of file, leaving out those ``NOISE`` matches."""
    pending = b""

    def emit(lines: list[bytes]) -> None:
        kept = b"".join(line for line in lines if not NOISE.search(line))
        while kept:
            kept = kept[os.write(out_fd, kept):]

    try:
        while chunk := os.read(read_fd, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            emit([line + b"\n" for line in lines])
        emit([pending] if pending else [])
    except OSError:
        pass
    finally:
        os.close(read_fd)
        os.close(out_fd)


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Within the block, file descriptor 2 (C, C++ and Python writes alike) goes through ``_pump``."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a windowed process): nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    thread = threading.Thread(target=_pump, args=(read_fd, os.dup(saved)), name="stderr-filter", daemon=True)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end (unless a child process inherited it)
        os.close(saved)
        thread.join(timeout=5)
