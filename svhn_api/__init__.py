"""svhn-reader: read house numbers from street photos.

Public API:

- ``prepare(...)``   official or synthetic archives -> one prepared HDF5 store
- ``synth(...)``     write synthetic house-number archives in the official SVHN layout
- ``train(...)``     train a model on a prepared store
- ``evaluate(...)``  whole-number accuracy and friends on a split of a store
- ``predict(...)``   read the number in one or many images
- ``read_digitstruct(path)``  fast reader of the official ``digitStruct.mat``

The functions are loaded on first use (``import svhn_api`` itself imports nothing heavy, so the command
line answers a bad argument at once); none of them shares its name with a submodule of ``svhn_api``, so
importing a submodule never rebinds them. TensorFlow is only imported inside the functions that need a model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from svhn_api.version import __version__

# public name -> the module that defines it
_PUBLIC = {
    "write_archive": "svhn_api.data.archive_writer",
    "read_digitstruct": "svhn_api.data.digitstruct",
    "prepare": "svhn_api.data.prepare",
    "evaluate": "svhn_api.inference.evaluate",
    "predict": "svhn_api.inference.predict",
    "read_photos": "svhn_api.inference.bulk",
    "synth": "svhn_api.data.synthetic_archives",
    "train": "svhn_api.training.train",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time ``__getattr__`` imports them on first use
    from svhn_api.data.archive_writer import write_archive
    from svhn_api.data.digitstruct import read_digitstruct
    from svhn_api.data.prepare import prepare
    from svhn_api.data.synthetic_archives import synth
    from svhn_api.inference.bulk import read_photos
    from svhn_api.inference.evaluate import evaluate
    from svhn_api.inference.predict import predict
    from svhn_api.training.train import train


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'svhn_api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


__all__ = ["__version__", "evaluate", "predict", "prepare", "read_digitstruct", "read_photos", "synth", "train",
           "write_archive"]
