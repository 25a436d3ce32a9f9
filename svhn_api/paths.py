"""Default locations: the one place that decides where data, training runs and the shipped models live.

The same rules hold for the library, the CLI, the dashboard and the pipelines:

- ``SVHN_DATA``  (default ``./data``): archives, synthetic archives and prepared stores.
- ``SVHN_RUNS``  (default ``./runs``): the user's training runs, one folder each. Training never writes
  into the shipped models.
- ``SVHN_MODEL`` (default: the shipped ``compact`` model): the model ``predict``/``evaluate`` load when
  none is named.
- ``SVHN_LOCALIZER`` (default: the shipped ``localizer``, when there is one): the model that finds the
  number in a whole photo when ``predict`` gets no box.
- ``SVHN_DIGITS``, ``SVHN_DETECTOR``, ``SVHN_TEXT_DETECTOR``, ``SVHN_TEXT_RECOGNIZER``: the helper models
  (the shipped digit classifier and scene-text models; no detector is shipped).
- ``SVHN_REAL``  (default ``../shared/svhn-real`` beside the checkout): the real SVHN sample that the
  benchmarks and the pipelines read. The library reads it too, but never needs it: ``models.runtime`` also
  checks an ONNX export on its test photos when it is there, and ``inference.photo_eval`` measures a model on
  its photo sets (for the benchmarks, the pipelines and the cards); reading a number never touches it.

Relative defaults are relative to the working directory, like any command-line tool's. The shipped models
are read-only package data: ``svhn_api/artifacts/models`` inside an installed wheel, ``artifacts/models``
in a source checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_ROOT = PACKAGE_DIR.parent
CHECKOUT: Path | None = _ROOT if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "artifacts").is_dir() else None
DEFAULT_ARCHITECTURE = "compact"


def check_file(path: str | Path, error: type[Exception], what: str, fix: str, name: str | None = None) -> Path:
    """``path`` when it is a file; else ``error`` saying it is a folder (not ``what``) or missing, then ``fix``:
    the one check of an input file (images, stores), done before a slow import. ``name`` (default: the path)
    names the input in the message."""
    p = Path(path)
    name = str(path) if name is None else name
    if p.is_dir():
        raise error(f"{name}: a folder, not {what}; {fix}")
    if not p.is_file():
        raise error(f"{name}: no such file; {fix}")
    return p


def _helper_model(env: str, shipped: str) -> Path | None:
    """``$env``, else the shipped model folder ``shipped``, when it holds a model (or names a .keras file)."""
    from svhn_api.models.folder import ModelFolder  # here, not at the top: the models import this module

    path = _env(env, shipped_models_dir() / shipped)
    return path if ModelFolder(path).has_keras() or (path.suffix == ".keras" and path.is_file()) else None


def _env(name: str, default: str | Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else Path(default)


def data_dir() -> Path:
    return _env("SVHN_DATA", "data")


def archives_dir() -> Path:
    """Where the official archives are looked for, and downloaded to."""
    return data_dir() / "archives"


def synthetic_dir() -> Path:
    """Where the embedded synthetic sample is rendered."""
    return data_dir() / "synthetic"


def runs_dir() -> Path:
    return _env("SVHN_RUNS", "runs")


def shipped_models_dir() -> Path:
    """The folder of shipped model folders (read-only)."""
    installed = PACKAGE_DIR / "artifacts" / "models"
    if installed.is_dir():
        return installed
    if CHECKOUT is not None:
        return CHECKOUT / "artifacts" / "models"
    return installed


def default_model() -> Path:
    """The model used when none is named: ``$SVHN_MODEL``, else the shipped compact model."""
    return _env("SVHN_MODEL", shipped_models_dir() / DEFAULT_ARCHITECTURE)


def default_localizer() -> Path | None:
    """The localizer ``predict`` uses when no box is given: ``$SVHN_LOCALIZER``, else the shipped one; None
    when neither exists (then the whole photo is read as it is)."""
    return _helper_model("SVHN_LOCALIZER", "localizer")


def default_detector() -> Path | None:
    """The detector ``predict`` uses beside the localizer: ``$SVHN_DETECTOR``, else the shipped one; None when
    neither exists (then the localizer's first look is at the whole photo)."""
    return _helper_model("SVHN_DETECTOR", "detector")


def default_digits() -> Path | None:
    """The digit classifier ``predict`` joins with the reader: ``$SVHN_DIGITS``, else the shipped one; None
    when neither exists (then the reader reads alone)."""
    return _helper_model("SVHN_DIGITS", "digits")


def default_scene_text(kind: str) -> Path | None:
    """The pretrained scene-text model of ``kind`` (``"text-detector"`` or ``"text-recognizer"``) that the full
    whole-photo pipeline uses: ``$SVHN_TEXT_DETECTOR`` / ``$SVHN_TEXT_RECOGNIZER``, else the shipped one; None
    when neither exists (then only the project's own models read)."""
    from svhn_api.models.folder import ModelFolder

    path = _env("SVHN_" + kind.upper().replace("-", "_"), shipped_models_dir() / kind)
    return path if ModelFolder(path).onnx.is_file() else None


def is_shipped(path: str | os.PathLike) -> bool:
    """True for a path inside the shipped models, which nothing may write to."""
    try:
        return Path(path).resolve().is_relative_to(shipped_models_dir().resolve())
    except OSError:
        return False


def real_svhn_dir() -> Path:
    """The real SVHN sample (photos and annotations) of the benchmarks and pipelines: ``$SVHN_REAL``, else
    ``shared/svhn-real`` beside the checkout (beside the working folder when not run from a checkout)."""
    return _env("SVHN_REAL", (CHECKOUT or Path.cwd()).parent / "shared" / "svhn-real")


def portable(path: str | os.PathLike) -> str:
    """``path`` relative to the checkout when it lies inside it (cards read the same on every clone),
    else absolute."""
    p = Path(path).resolve()
    if CHECKOUT is not None and p.is_relative_to(CHECKOUT):
        return str(p.relative_to(CHECKOUT))
    return str(p)
