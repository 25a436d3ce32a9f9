"""The original photo of a store row. ``prepare`` keeps each row's archive (``sources``: train, extra, test)
and file name; the archive is looked for beside the store, as ``prepare`` lays them out, and the photo is read
through the archive's cached index (``archives.ArchiveIndex``), without unpacking it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from svhn_api.data.archives import read_image
from svhn_api.data.images import load_image


def find_archive(store: str | os.PathLike[str], source: str, extra_dirs: Sequence[str | Path] = ()) -> Path | None:
    """The archive a store row came from (``<source>.tar.gz``), looked for next to the store (``archives/``
    beside it, as ``prepare`` lays them out) and in ``extra_dirs``; None when it is not on this machine."""
    store = Path(store)
    dirs = [store.parent / "archives", store.parent, store.parent.parent / "archives", *map(Path, extra_dirs)]
    for d in dirs:
        p = d / f"{source}.tar.gz"
        if p.is_file():
            return p
    return None


def original_photo(archive: str | Path, basename: str) -> Image.Image:
    """Photo ``basename`` (e.g. ``"17.png"``) of ``archive`` as an RGB image."""
    return load_image(read_image(archive, basename), name=f"{archive}:{basename}")
