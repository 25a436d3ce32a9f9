"""Resumable training checkpoints: every variable stored under a name derived from the model's structure.

Keras names layers with process-wide counters (``conv2d_7``), so the same architecture gets other variable
paths in another process or after another model was built. The names here are structural instead: the
n-th layer of a class and its variable (``conv2d_2/kernel``), the optimizer's slots under the name of the
variable they belong to. Loading checks that names and shapes match and says what differs otherwise.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from svhn_api.atomic import atomic_path
from svhn_api.errors import ModelError

FILE = "checkpoint.h5"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


def model_names(model: Any) -> dict[str, Any]:
    """``{structural name: variable}`` for every variable of ``model`` (seed-generator states included);
    nested models are walked through, so a model and a larger one built around it name their shared
    variables alike."""
    counts: dict[str, int] = {}
    out: dict[str, Any] = {}

    def visit(m: Any) -> None:
        for layer in m.layers:
            if getattr(layer, "layers", None) is not None:
                visit(layer)
                continue
            kind = _snake(type(layer).__name__)
            k = counts.get(kind, 0)
            counts[kind] = k + 1
            prefix = kind if k == 0 else f"{kind}_{k}"
            for v in layer.variables:
                name = f"{prefix}/{v.name}"
                while name in out:   # two variables of one layer with the same short name
                    name += "_"
                out[name] = v

    visit(model)
    return out


def optimizer_names(optimizer: Any, model: dict[str, Any]) -> dict[str, Any]:
    """``{structural name: variable}`` for the optimizer, its slots renamed after the model's variables."""
    flat = sorted(((v.path.replace("/", "_"), name.replace("/", "_")) for name, v in model.items()),
                  key=lambda pair: -len(pair[0]))
    out: dict[str, Any] = {}
    for v in optimizer.variables:
        short = v.path.split("/", 1)[-1]
        for path, name in flat:
            if short.startswith(path + "_"):
                short = name + short[len(path):]
                break
        out[short] = v
    return out


def save(path: str | Path, groups: dict[str, dict[str, Any]], state: dict) -> None:
    """Write ``groups`` (``{group: {name: variable or array}}``) and the JSON-able ``state`` atomically."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for group, values in groups.items():
            g = f.create_group(group)
            for name, v in values.items():
                g.create_dataset(name, data=np.asarray(v))
        f.attrs["state"] = json.dumps(state)


def read_state(path: str | Path) -> dict:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs["state"])
    except (OSError, KeyError, ValueError) as e:
        raise ModelError(f"{path}: unreadable checkpoint ({e}); delete it or pass fresh=True") from e


def load(path: str | Path, groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """Assign the stored values to ``groups``' variables (after checking every name and shape); groups not in
    ``groups`` are returned as arrays keyed by name."""
    import h5py

    def names(g: Any) -> list[str]:
        out: list[str] = []
        g.visititems(lambda n, obj: out.append(n) if isinstance(obj, h5py.Dataset) else None)
        return out

    try:
        with h5py.File(path, "r") as f:
            extra = {}
            for group in f:
                stored = names(f[group])
                if group not in groups:
                    extra[group] = {n: f[group][n][()] for n in stored}
                    continue
                _check(path, group, {n: f[group][n].shape for n in stored},
                       {n: tuple(v.shape) for n, v in groups[group].items()})
                for n, v in groups[group].items():
                    v.assign(f[group][n][()])
            return extra
    except (OSError, KeyError) as e:
        raise ModelError(f"{path}: unreadable checkpoint ({e}); delete it or pass fresh=True") from e


def _check(path: str | Path, group: str, stored: dict[str, tuple], wanted: dict[str, tuple]) -> None:
    missing, unexpected = sorted(set(wanted) - set(stored)), sorted(set(stored) - set(wanted))
    reshaped = sorted(n for n in set(stored) & set(wanted) if tuple(stored[n]) != tuple(wanted[n]))
    if missing or unexpected or reshaped:
        parts = [f"{label}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}" for label, names in
                 (("missing", missing), ("not in this model", unexpected), ("other shape", reshaped)) if names]
        raise ModelError(f"{path}: the checkpoint's {group} does not match this model ({'; '.join(parts)}); "
                         "it was written by another architecture or version: pass fresh=True (CLI: --fresh) "
                         "to start over")
