"""svhn-reader: read house numbers from street photos.

Public API (imported lazily so that ``import svhn_api`` stays fast and never loads TensorFlow):

- ``prepare(...)``   official or synthetic archives -> one prepared HDF5 store
- ``synth(...)``     write synthetic house-number archives in the official SVHN layout
- ``train(...)``     train a model on a prepared store
- ``evaluate(...)``  whole-number accuracy and friends on a split of a store
- ``predict(...)``   read the number in one or many images
- ``read_digitstruct(path)``  fast reader of the official ``digitStruct.mat``
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "prepare": "svhn_api.prepare",
    "synth": "svhn_api.synthetic",
    "train": "svhn_api.train",
    "evaluate": "svhn_api.evaluate",
    "predict": "svhn_api.predict",
    "read_digitstruct": "svhn_api.digitstruct",
    "write_archive": "svhn_api.archive_writer",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'svhn_api' has no attribute {name!r}")
