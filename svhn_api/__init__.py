"""svhn-reader: read house numbers from street photos.

Public API:

- ``prepare(...)``   official or synthetic archives -> one prepared HDF5 store
- ``synth(...)``     write synthetic house-number archives in the official SVHN layout
- ``train(...)``     train a model on a prepared store
- ``evaluate(...)``  whole-number accuracy and friends on a split of a store
- ``predict(...)``   read the number in one or many images
- ``read_digitstruct(path)``  fast reader of the official ``digitStruct.mat``

The functions are bound here, eagerly, because each lives in a module of the same name: importing such a
module later would otherwise rebind ``svhn_api.<name>`` to the module. These modules are light; TensorFlow
is only imported inside the functions that need a model.
"""

__version__ = "0.1.0"

from svhn_api.data.archive_writer import write_archive  # noqa: E402
from svhn_api.data.digitstruct import read_digitstruct  # noqa: E402
from svhn_api.data.prepare import prepare  # noqa: E402
from svhn_api.inference.evaluate import evaluate  # noqa: E402
from svhn_api.inference.predict import predict  # noqa: E402
from svhn_api.synthetic import synth  # noqa: E402
from svhn_api.training.train import train  # noqa: E402

__all__ = ["__version__", "evaluate", "predict", "prepare", "read_digitstruct", "synth", "train", "write_archive"]
