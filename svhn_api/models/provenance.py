"""Provenance: the facts a model card records about where a model comes from: the data (its checksum, crop,
counts, real or synthetic), the machine, the library versions and the time."""

from __future__ import annotations

import hashlib
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svhn_api import paths

if TYPE_CHECKING:
    from svhn_api.data.store import Source

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


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


def data_kind(attrs: dict[str, Any]) -> str:
    """"real" when the store says so or was built from the official archives, else "synthetic"."""
    source = attrs.get("source")
    if source in ("official", "real"):
        return "real"
    if str(source).startswith("mixed"):
        return "mixed real and synthetic"
    if source:
        return "synthetic" if "synth" in str(source) else str(source)
    from svhn_api.data.download import is_official_md5

    archives = attrs.get("archives") or {}
    md5s = list(archives.values()) if isinstance(archives, dict) else []
    if md5s and all(is_official_md5(m) for m in md5s):
        return "real"
    return "synthetic"


def data_facts(path: Source, checksum: bool = True) -> dict:
    """What a card says about a store: path, checksum, crop, image shape, counts, real or synthetic."""
    from svhn_api.data import store
    from svhn_api.data.preprocess import crop_meaning

    info = store.inspect(path)
    facts = {"path": paths.portable(info.path), "bytes": info.path.stat().st_size, "crop": info.crop,
             "crop_meaning": crop_meaning(info.crop),
             "image_shape": list(info.image_shape), "counts": info.counts,
             "kind": data_kind(info.attrs), "archives": info.attrs.get("archives", {}),
             "created": info.attrs.get("created")}
    if checksum:
        facts["sha256"] = sha256(info.path)
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
    out["backend"], out["gpus"] = _accelerators()
    return out


def _accelerators() -> tuple[str, list[str]]:
    """The Keras backend in use and the accelerators it sees (best effort)."""
    from svhn_api.backend import import_keras

    name = import_keras().backend.backend()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            return name, [d.name for d in tf.config.list_physical_devices("GPU")]
        if name == "jax":
            import jax

            return name, [str(d) for d in jax.devices() if d.platform != "cpu"]
        if name == "torch":
            import torch

            return name, [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - hardware facts are best effort
        pass
    return name, []


def version_of(package: str) -> str | None:
    """The installed version of ``package``; None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def versions() -> dict:
    """Versions of the libraries that shape a model's numbers (those installed)."""
    from svhn_api.version import __version__

    out = {"python": platform.python_version(), "svhn_api": __version__}
    for name in ("tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "torch", "numpy", "h5py", "pillow"):
        if (found := version_of(name)) is not None:
            out[name] = found
    return out


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
