"""The models: architectures and layers (Keras, imported on demand), model files and their cards.

The architecture names live here, importable without Keras, so the CLI can check them instantly.
"""

ARCHITECTURES = ("compact", "capstone", "deep", "localizer", "detector")
LOCALIZERS = ("localizer",)                    # find the number in a whole photo: (N, 4) box fractions
DETECTORS = ("detector",)                      # where digits are in a whole photo: (N, H/4, W/4) probabilities
# every other architecture (compact, capstone, deep) reads a number's crop: (N, 6, 11) probabilities


def architecture_name(name: str) -> str:
    """``name`` when it is an architecture, else a ValueError listing the choices."""
    if name not in ARCHITECTURES:
        raise ValueError(f"model {name!r}: choose one of {', '.join(ARCHITECTURES)}")
    return name


def task(name: str) -> str:
    """``"read"`` for the reader architectures, ``"locate"`` for the localizer, ``"detect"`` for the detector."""
    arch = architecture_name(name)
    return "locate" if arch in LOCALIZERS else "detect" if arch in DETECTORS else "read"
