"""The prepared dataset store: one chunked, compressed HDF5 file that training, evaluation and the dashboard read.

Rows are grouped by split (train, then validation, then test) so a split is one contiguous range; the
``split`` column still names each row's split. Datasets:

- ``images``   (N, S, S, C) uint8, the model input (64x64x3 for ``union``, 32x32x1 for ``seed``)
- ``labels``   (N, 6) int8, ``[length, d1..d5]`` with 10 for "no digit"
- ``lengths``  (N,) int8
- ``boxes``    (N, 5, 4) float32, the original digit boxes (left, top, width, height), NaN where absent
- ``sizes``    (N, 2) int32, original (width, height)
- ``filenames``, ``sources`` (N,) str: file name in its archive, and the archive (train, extra, test)
- ``split``    (N,) uint8, index into ``SPLITS``

Attributes: crop mode, library version, source archive checksums, creation time, split ranges, left-out items.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from svhn_api.errors import DataError

SPLITS = ("train", "validation", "test")
ROW_FIELDS = ("images", "labels", "lengths", "boxes", "sizes", "filenames", "sources", "split")
STR = h5py.string_dtype("utf-8")
CHUNK_ROWS = 256


@dataclass
class StoreInfo:
    path: Path
    crop: str
    image_shape: tuple[int, ...]
    counts: dict[str, int]
    attrs: dict[str, Any] = field(default_factory=dict)


def create_datasets(f: h5py.File, image_shape: Sequence[int], n: int = 0) -> None:
    """Empty, resizable, chunked datasets for ``n`` rows (more can be appended)."""
    def make(name: str, shape: tuple[int, ...], dtype: Any, **kw: Any) -> None:
        f.create_dataset(name, shape=(n, *shape), maxshape=(None, *shape), dtype=dtype,
                         chunks=(CHUNK_ROWS, *shape), **kw)

    make("images", tuple(image_shape), np.uint8, compression="lzf")
    make("labels", (6,), np.int8, compression="gzip")
    make("lengths", (), np.int8, compression="gzip")
    make("boxes", (5, 4), np.float32, compression="gzip", fillvalue=np.nan)
    make("sizes", (2,), np.int32, compression="gzip")
    make("filenames", (), STR, compression="gzip")
    make("sources", (), STR, compression="gzip")
    make("split", (), np.uint8, compression="gzip")


def append_rows(f: h5py.File, rows: dict[str, np.ndarray]) -> None:
    n = len(rows["images"])
    if n == 0:
        return
    start = f["images"].shape[0]
    for name, values in rows.items():
        ds = f[name]
        ds.resize(start + n, axis=0)
        ds[start:start + n] = values


def _open(path: str | Path) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no prepared store here; run `python -m svhn_api prepare` first "
                        "(or `prepare --source synthetic` for the embedded synthetic data)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"{path}: not a readable HDF5 store ({e}); delete it and run prepare again") from e
    missing = [n for n in ROW_FIELDS if n not in f]
    if missing or "split_ranges" not in f.attrs:
        f.close()
        raise DataError(f"{path}: not a complete svhn-reader store (missing {missing or 'split_ranges'}); "
                        "delete it and run prepare again")
    return f


def split_range(f: h5py.File, split: str) -> tuple[int, int]:
    ranges = json.loads(f.attrs["split_ranges"])
    if split not in ranges:
        raise DataError(f"{f.filename}: no split {split!r}; it has {', '.join(ranges)}")
    start, stop = ranges[split]
    return int(start), int(stop)


def describe(path: str | Path) -> StoreInfo:
    """Counts per split and the store's attributes, without reading any pixels."""
    with _open(path) as f:
        ranges = json.loads(f.attrs["split_ranges"])
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        for k in ("archives", "left_out", "split_ranges"):
            if k in attrs:
                attrs[k] = json.loads(attrs[k])
        return StoreInfo(Path(path), str(f.attrs["crop"]), tuple(f["images"].shape[1:]),
                         {s: int(b - a) for s, (a, b) in ranges.items()}, attrs)


def _decode_str(a: np.ndarray) -> np.ndarray:
    return np.array([x.decode() if isinstance(x, bytes) else x for x in a], dtype=object)


def read(path: str | Path, split: str, fields: Sequence[str] = ("images", "labels"),
         indices: Sequence[int] | np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Rows of one split (all of them, or ``indices`` relative to the split) as numpy arrays."""
    with _open(path) as f:
        start, stop = split_range(f, split)
        if indices is None:
            sel: Any = slice(start, stop)
        else:
            idx = np.asarray(indices, dtype=np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= stop - start):
                raise IndexError(f"{path}: index out of range for split {split!r} of {stop - start} rows")
            order = np.argsort(idx)
            sel = start + idx[order]
        out = {}
        for name in fields:
            if indices is None:
                values = f[name][sel]
            else:
                uniq, inverse = np.unique(sel, return_inverse=True)
                values = f[name][uniq][inverse]
                values = values[np.argsort(order)]
            out[name] = _decode_str(values) if f[name].dtype == STR else values
        return out


def iter_batches(path: str | Path, split: str, batch_size: int = 128, *, shuffle: bool = False,
                 seed: int = 0, fields: Sequence[str] = ("images", "labels"), block_rows: int = 1024,
                 buffer_blocks: int = 8, limit: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """One pass over a split in batches, never holding more than ``buffer_blocks`` blocks in memory.

    Shuffling visits contiguous blocks in random order and shuffles rows across a buffer of blocks: cheap
    on a compressed file, and random enough for SGD once blocks are a few chunks long.
    """
    rng = np.random.default_rng(seed)
    with _open(path) as f:
        start, stop = split_range(f, split)
        if limit is not None:
            stop = min(stop, start + limit)
        starts = np.arange(start, stop, block_rows)
        if shuffle:
            rng.shuffle(starts)
        pending: dict[str, np.ndarray] | None = None
        for g in range(0, len(starts), buffer_blocks):
            parts = [{n: f[n][s:min(s + block_rows, stop)] for n in fields} for s in starts[g:g + buffer_blocks]]
            buf = {n: np.concatenate([p[n] for p in parts]) for n in fields}
            if shuffle:
                perm = rng.permutation(len(buf[fields[0]]))
                buf = {n: v[perm] for n, v in buf.items()}
            if pending is not None:
                buf = {n: np.concatenate([pending[n], buf[n]]) for n in fields}
            full = len(buf[fields[0]]) // batch_size * batch_size
            for i in range(0, full, batch_size):
                yield {n: buf[n][i:i + batch_size] for n in fields}
            pending = {n: buf[n][full:] for n in fields}
        if pending is not None and len(pending[fields[0]]):
            yield pending


def count(path: str | Path, split: str) -> int:
    with _open(path) as f:
        a, b = split_range(f, split)
        return b - a


def tf_dataset(path: str | Path, split: str, batch_size: int = 128, *, shuffle: bool = False, seed: int = 0,
               limit: int | None = None, epoch_seeds: bool = True) -> Any:
    """A ``tf.data.Dataset`` of ``(images uint8, labels int8)`` batches streamed from the store.

    With ``shuffle`` each pass over the dataset (each epoch) uses a new order derived from ``seed``.
    """
    import tensorflow as tf

    info = describe(path)
    epoch = {"n": 0}

    def gen() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        s = seed + epoch["n"] if epoch_seeds else seed
        epoch["n"] += 1
        for b in iter_batches(path, split, batch_size, shuffle=shuffle, seed=s, limit=limit):
            yield b["images"], b["labels"]

    sig = (tf.TensorSpec((None, *info.image_shape), tf.uint8), tf.TensorSpec((None, 6), tf.int8))
    return tf.data.Dataset.from_generator(gen, output_signature=sig)
