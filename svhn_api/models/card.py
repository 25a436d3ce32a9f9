"""The model card: ``card.json`` beside ``model.keras``, written atomically and updated under a file lock.

It says what the model is (architecture, input spec, decoding), what it was trained on (store path,
SHA-256, crop, counts, real or synthetic), how (config, steps, wall time, hardware, library versions,
per-epoch history) and every evaluation run on it, each naming its data.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from svhn_api import paths
from svhn_api.atomic import atomic_path
from svhn_api.errors import ModelError

CARD = "card.json"
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def read(folder: str | Path) -> dict | None:
    """The card of a model folder, or None when it has none."""
    path = Path(folder) / CARD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable model card ({e}); restore it or retrain the model") from e


def write(folder: str | Path, card: dict) -> Path:
    """Write ``card`` atomically (temporary file in the same folder, then ``os.replace``)."""
    path = Path(folder) / CARD
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(card, indent=2, default=_json_default) + "\n")
    return path


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself (no lock file left behind)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def update(folder: str | Path, change: Callable[[dict | None], dict]) -> dict:
    """Read-modify-write the card under an exclusive lock, so that training and evaluations don't race."""
    folder = Path(folder)
    with _locked(folder):
        card = change(read(folder))
        write(folder, card)
    return card


def add_evaluation(folder: str | Path, record: dict) -> dict:
    """Append one evaluation record to the card's ``evaluations``."""
    def change(card: dict | None) -> dict:
        card = dict(card or {})
        card.setdefault("evaluations", []).append(record)
        return card

    return update(folder, change)


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sha256(path: str | Path) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) within the process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def data_kind(attrs: dict[str, Any], path: str | Path = "") -> str:
    """"real" when the store says so or was built from the official archives, else "synthetic"."""
    source = attrs.get("source")
    if source in ("official", "real"):
        return "real"
    if source:
        return "synthetic" if "synth" in str(source) else str(source)
    from svhn_api.data.download import is_official_md5

    archives = attrs.get("archives") or {}
    md5s = list(archives.values()) if isinstance(archives, dict) else []
    if md5s and all(is_official_md5(m) for m in md5s):
        return "real"
    return "synthetic"


def data_facts(path: str | Path, checksum: bool = True) -> dict:
    """What a card says about a store: path, checksum, crop, image shape, counts, real or synthetic."""
    from svhn_api.data import store

    info = store.describe(path)
    facts = {"path": paths.portable(path), "bytes": Path(path).stat().st_size, "crop": info.crop,
             "crop_meaning": "ground-truth union box expanded 30%" if info.crop == "union"
             else "ground-truth digit boxes (capstone strip)",
             "image_shape": list(info.image_shape), "counts": info.counts,
             "kind": data_kind(info.attrs, path), "archives": info.attrs.get("archives", {}),
             "created": info.attrs.get("created")}
    if checksum:
        facts["sha256"] = sha256(path)
    return facts


def hardware() -> dict:
    """The machine: CPU model and count, and any GPU TensorFlow sees."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out: dict[str, Any] = {"cpu": cpu, "cpu_count": os.cpu_count(), "machine": platform.machine(),
                           "system": platform.system()}
    try:
        import tensorflow as tf

        out["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # noqa: BLE001 - hardware facts are best effort
        out["gpus"] = []
    return out


def versions() -> dict:
    """Versions of the libraries that shape a model's numbers."""
    from importlib.metadata import PackageNotFoundError, version

    from svhn_api import __version__

    out = {"python": platform.python_version(), "svhn_api": __version__}
    for name in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "h5py", "pillow"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
