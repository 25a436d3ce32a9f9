"""Write an archive in the official SVHN "Format 1" layout: ``{split}.tar.gz`` holding ``{split}/N.png``
images and ``{split}/digitStruct.mat`` (our fixtures and synthetic data use the same loader as the real
archives this way).

Images are streamed into the tar as they come; only their boxes are kept, and digitStruct.mat is
written last. The output is deterministic (fixed member metadata, gzip header without name or time),
so the same items give byte-identical archives, and atomic (``svhn_api.atomic``: temp file in the same
folder, then a rename).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable, Iterable, Sized
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from svhn_api.atomic import atomic_path
from svhn_api.data.digitstruct_writer import write_digitstruct
from svhn_api.records import DigitBox, ImageRecord

__all__ = ["write_archive", "encode_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MEMBER_MTIME = 0  # fixed member metadata: identical input, identical bytes
_DIGITSTRUCT = "digitStruct.mat"
REPORT_EVERY = 50  # items between two on_progress calls


def encode_png(image: bytes | Image.Image | np.ndarray) -> bytes:
    """PNG bytes of ``image``: PNG bytes pass through; a PIL image or a uint8 (H, W[, 3|4]) array is encoded."""
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if not data.startswith(PNG_SIGNATURE):
            raise ValueError("image bytes are not a PNG file (missing PNG signature)")
        return data
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
            raise ValueError(f"image array must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
        image = Image.fromarray(np.ascontiguousarray(image))
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be PNG bytes, a PIL.Image or a uint8 numpy array, not {type(image).__name__}")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _tarinfo(name: str, size: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = MEMBER_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _check_name(split: str, filename: str, seen: set[str]) -> None:
    if not filename or "/" in filename or "\\" in filename or filename in (".", "..", _DIGITSTRUCT):
        raise ValueError(f"{split}: image file name {filename!r} must be a plain file name such as '1.png'")
    if filename in seen:
        raise ValueError(f"{split}: image file name {filename!r} appears twice")
    seen.add(filename)


def write_archive(
    path: str | os.PathLike,
    split: str,
    items: Iterable[tuple[str, Any, list[DigitBox]]],
    *,
    progress: bool = False,
    compresslevel: int = 6,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Write ``items`` (file name, image, boxes) as an official-layout SVHN tar.gz; returns the path.
    ``on_progress(stage, done, total)`` is called every ``REPORT_EVERY`` items (total 0 when unknown).

    Members: ``{split}/`` (directory), then ``{split}/{filename}`` per item in order, then
    ``{split}/digitStruct.mat``. ``image`` is PNG bytes, a PIL.Image or a uint8 (H, W, 3) array.
    """
    path = Path(path)
    if not split or "/" in split or split in (".", ".."):
        raise ValueError(f"split {split!r} must be a plain folder name such as 'train'")
    total = len(items) if isinstance(items, Sized) else None
    records: list[ImageRecord] = []
    seen: set[str] = set()
    with atomic_path(path) as tmp:
        tmp_mat = tmp.with_name(tmp.name + ".mat")  # scratch: the extra split's digitStruct is too big to hold twice
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.addfile(_tarinfo(f"{split}/", 0, directory=True))
            bar = tqdm(items, total=total, disable=not progress, desc=f"writing {path.name}", unit="img")
            for done, (filename, image, boxes) in enumerate(bar, 1):
                _check_name(split, filename, seen)
                data = encode_png(image)
                tar.addfile(_tarinfo(f"{split}/{filename}", len(data)), io.BytesIO(data))
                records.append(ImageRecord(filename, [DigitBox(*b) for b in boxes]))
                if on_progress is not None and (done % REPORT_EVERY == 0 or done == total):
                    on_progress(f"write {path.name}", done, total or 0)
            try:
                write_digitstruct(tmp_mat, records)
                with open(tmp_mat, "rb") as mat:
                    tar.addfile(_tarinfo(f"{split}/{_DIGITSTRUCT}", os.fstat(mat.fileno()).st_size), mat)
            finally:
                tmp_mat.unlink(missing_ok=True)
    return path
