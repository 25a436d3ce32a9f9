"""The prepared dataset store: one chunked, compressed HDF5 file that training, evaluation and the dashboard read.

Rows are grouped by split (train, then validation, then test) so a split is one contiguous range; the
``split`` column still names each row's split. Datasets:

- ``images``   (N, S, S, C) uint8, the model input (``preprocess.CROP_SHAPES``: 64x64x3 for ``union``,
  32x32x1 for ``capstone``)
- ``labels``   (N, 6) int8, ``[length, d1..d5]`` with 10 for "no digit" (``svhn_api.labels``)
- ``lengths``  (N,) int8
- ``boxes``    (N, 5, 4) float32, the original digit boxes (left, top, width, height), NaN where absent
- ``sizes``    (N, 2) int32, original (width, height)
- ``filenames``, ``sources`` (N,) str: file name in its archive, and the archive (train, extra, test)
- ``split``    (N,) uint8, index into ``SPLITS``

Attributes (``StoreAttrs``, written by ``write_attrs``, read back by ``inspect``): crop mode, source,
whether the archives passed their size/MD5 check, library version, source archive checksums, creation
time (optional: ``prepare`` leaves it out, so that the same inputs give the same bytes), split ranges,
left-out items, validation seed.
This module is the one owner of the schema: ``prepare`` and the test fixtures both write through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from svhn_api.data.preprocess import crop_mode
from svhn_api.errors import DataError
from svhn_api.labels import LABEL_DTYPE, LABEL_WIDTH, MAX_DIGITS

SPLITS = ("train", "validation", "test")
ROW_FIELDS = ("images", "labels", "lengths", "boxes", "sizes", "filenames", "sources", "split")
SPLIT_FREE_FIELDS = tuple(f for f in ROW_FIELDS if f != "split")  # a row's fields but its split, set when copied
STR = h5py.string_dtype("utf-8")
CHUNK_ROWS = 256
JSON_ATTRS = ("archives", "split_ranges", "left_out", "splits")  # attributes stored as JSON text


@dataclass
class StoreAttrs:
    """A store's attributes, typed. ``write_attrs`` stores them; ``inspect`` returns them as ``StoreInfo.attrs``.

    ``split_ranges``: ``{split: [start, stop)}`` (``split_ranges(counts)`` makes them); ``archives``: archive
    name -> MD5 of the archive the rows came from; ``left_out``: ``{"archive", "filename", "reason"}`` items;
    ``source``: "real", "synthetic", ..., or "unverified" (None: not recorded, the archive checksums say);
    ``verified``: whether the archives passed their size/MD5 check (False: ``prepare(verify=False)``, a
    user's own archives, whose ``archives`` MD5s are what was read, checked against nothing; None: not
    recorded, as in older stores).
    """

    crop: str
    split_ranges: dict[str, list[int]]
    version: str
    created: str | None = None  # prepare leaves it out: the same inputs give the same bytes
    archives: dict[str, str] = field(default_factory=dict)
    left_out: list[dict[str, str]] = field(default_factory=list)
    validation_seed: int = 0
    source: str | None = None
    splits: tuple[str, ...] = SPLITS
    verified: bool | None = None


def split_ranges(counts: Mapping[str, int]) -> dict[str, list[int]]:
    """``{split: [start, stop)}`` for a store holding ``counts[split]`` rows of each split, in ``SPLITS`` order."""
    ranges, cursor = {}, 0
    for split in SPLITS:
        n = int(counts.get(split, 0))
        ranges[split] = [cursor, cursor + n]
        cursor += n
    return ranges


def box_array(boxes: Sequence[Any]) -> np.ndarray:
    """One row of the ``boxes`` dataset: ``(MAX_DIGITS, 4)`` left, top, width, height per digit, NaN where absent."""
    a = np.full((MAX_DIGITS, 4), np.nan, dtype=np.float32)
    for i, b in enumerate(boxes[:MAX_DIGITS]):
        a[i] = (b.left, b.top, b.width, b.height)
    return a


def write_attrs(f: h5py.File, attrs: StoreAttrs) -> None:
    """Store ``attrs`` on an open store file (the lists and dicts as JSON text); ``None`` values are not
    written."""
    values = {k: v for k, v in asdict(attrs).items() if v is not None}
    values["crop"] = crop_mode(attrs.crop)
    f.attrs.update({k: json.dumps(v) if k in JSON_ATTRS else v for k, v in values.items()})


@dataclass
class StoreInfo:
    path: Path
    crop: str
    image_shape: tuple[int, ...]
    counts: dict[str, int]
    attrs: dict[str, Any] = field(default_factory=dict)


def create_datasets(f: h5py.File, image_shape: Sequence[int], n: int = 0, *, compress_images: bool = True) -> None:
    """Empty, resizable, chunked datasets for ``n`` rows (more can be appended). ``compress_images=False``: for
    prepare's temporary part files, written while the workers wait and compressed once, in the final store."""
    def make(name: str, shape: tuple[int, ...], dtype: Any, **kw: Any) -> None:
        f.create_dataset(name, shape=(n, *shape), maxshape=(None, *shape), dtype=dtype,
                         chunks=(CHUNK_ROWS, *shape), track_times=False, **kw)  # no timestamps: same bytes

    make("images", tuple(image_shape), np.uint8, compression="lzf" if compress_images else None)
    make("labels", (LABEL_WIDTH,), LABEL_DTYPE, compression="gzip")
    make("lengths", (), LABEL_DTYPE, compression="gzip")
    make("boxes", (MAX_DIGITS, 4), np.float32, compression="gzip", fillvalue=np.nan)
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


class ChunkAligned:
    """``append_rows`` in whole chunks: rows are held until ``CHUNK_ROWS`` of them are there, and the rest is
    written by ``flush()``. A write that covers part of a compressed chunk makes HDF5 read, decompress and
    compress the chunk again (prepare's 128-row results: 0.79 s for 3,000 lzf-compressed images, 0.42 s
    aligned)."""

    def __init__(self, f: h5py.File, rows_per_write: int = 4 * CHUNK_ROWS) -> None:
        self.f, self.rows_per_write = f, rows_per_write
        self.pending: list[dict[str, np.ndarray]] = []
        self.n = 0

    def add(self, rows: dict[str, np.ndarray]) -> None:
        self.pending.append(rows)
        self.n += len(rows["images"])
        if self.n >= self.rows_per_write:
            self._write(self.n - self.n % CHUNK_ROWS)

    def flush(self) -> None:
        self._write(self.n)

    def _write(self, n: int) -> None:
        if not self.pending or n == 0:
            return
        rows = {k: np.concatenate([p[k] for p in self.pending]) for k in self.pending[0]}
        append_rows(self.f, {k: v[:n] for k, v in rows.items()})
        rest = {k: v[n:] for k, v in rows.items()}
        self.pending, self.n = ([rest] if len(rest["images"]) else []), len(rest["images"])


def _open(path: str | Path) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no prepared store here; run `python -m svhn_api prepare` first "
                        "(or `prepare --source synthetic` for the embedded synthetic data)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"{path}: not a readable HDF5 store ({e}); give the .h5 file that `prepare` wrote (if "
                        "prepare wrote this one, delete it and run prepare again)") from e
    missing = [n for n in ROW_FIELDS if n not in f]
    if missing or "split_ranges" not in f.attrs:
        f.close()
        raise DataError(f"{path}: not a complete svhn-reader store (missing {missing or 'split_ranges'}); "
                        "delete it and run prepare again")
    return f


class OpenStore:
    """A store opened once for reading by several steps (a training run walks it every epoch, validates on it
    and describes it in the model's card). Every reading function here takes one in place of a path; the file
    stays open until ``close`` (or the end of a ``with`` block)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.file = _open(self.path)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> OpenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


Source = str | Path | OpenStore   # what the reading functions take: a store's path, or a store opened once


@contextmanager
def _reading(source: Source) -> Iterator[h5py.File]:
    """The open file of ``source``: the one already open, or the path opened for this read and closed after."""
    if isinstance(source, OpenStore):
        yield source.file
        return
    with _open(source) as f:
        yield f


def split_range(f: h5py.File, split: str) -> tuple[int, int]:
    ranges = json.loads(f.attrs["split_ranges"])
    if split not in ranges:
        raise DataError(f"{f.filename}: no split {split!r}; it has {', '.join(ranges)}")
    start, stop = ranges[split]
    return int(start), int(stop)


def inspect(path: Source) -> StoreInfo:
    """Counts per split and the store's attributes, without reading any pixels."""
    with _reading(path) as f:
        attrs: dict[str, Any] = {k: (v.decode() if isinstance(v, bytes) else bool(v) if isinstance(v, np.bool_)
                                     else v) for k, v in f.attrs.items()}
        shape = tuple(f["images"].shape[1:])
    for k in JSON_ATTRS:
        if isinstance(attrs.get(k), str):
            attrs[k] = json.loads(attrs[k])
    if attrs.get("crop") == "seed":
        raise DataError(f"{path}: prepared before 0.2, under the capstone crop's old name 'seed'; prepare it again "
                        "(python -m svhn_api prepare --crop capstone ...)")
    return StoreInfo(Path(path), attrs["crop"], shape,
                     {s: int(b - a) for s, (a, b) in attrs["split_ranges"].items()}, attrs)


def _decode_str(a: np.ndarray) -> np.ndarray:
    return np.array([x.decode() if isinstance(x, bytes) else x for x in a], dtype=object)


def read(path: Source, split: str, fields: Sequence[str] = ("images", "labels"),
         indices: Sequence[int] | np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Rows of one split (all of them, or ``indices`` relative to the split) as numpy arrays."""
    with _reading(path) as f:
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


def iter_batches(path: Source, split: str, batch_size: int = 128, *, shuffle: bool = False,
                 seed: int = 0, fields: Sequence[str] = ("images", "labels"), block_rows: int = 1024,
                 buffer_blocks: int = 8, limit: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """One pass over a split in batches, never holding more than ``buffer_blocks`` blocks in memory.

    Shuffling visits contiguous blocks in random order and shuffles rows across a buffer of blocks: cheap
    on a compressed file, and random enough for SGD once blocks are a few chunks long.
    """
    rng = np.random.default_rng(seed)
    with _reading(path) as f:
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


def count(path: Source, split: str) -> int:
    with _reading(path) as f:
        a, b = split_range(f, split)
        return b - a


def compose(out: str | Path, parts: Sequence[tuple[str | Path, str, str, int]], *, source: str) -> dict[str, int]:
    """A new store made of splits of other stores of the same crop: each part is ``(store, its split, the new
    store's split, copies)`` (``copies`` > 1 oversamples, e.g. a few real photos among many synthetic ones).
    Written atomically; the attributes name every part. Holds one part's split in memory at a time (a
    training store of a few tens of thousands of 64x64 rows: a few hundred MB). Returns the rows per split."""
    from svhn_api.atomic import atomic_path
    from svhn_api.version import __version__

    infos = [inspect(p) for p, *_ in parts]
    crops = {i.crop for i in infos}
    if len(crops) != 1:
        raise DataError(f"{out}: parts of different crops ({', '.join(sorted(crops))}); compose stores of one crop")
    counts: dict[str, int] = {s: 0 for s in SPLITS}
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        create_datasets(f, infos[0].image_shape)
        for code, split in enumerate(SPLITS):
            for path, src, dst, copies in parts:
                if dst != split:
                    continue
                rows = read(path, src, fields=list(SPLIT_FREE_FIELDS))
                rows["split"] = np.full(len(rows["images"]), code, np.uint8)
                for _ in range(copies):
                    append_rows(f, {k: v.astype(object) if k in ("filenames", "sources") else v
                                    for k, v in rows.items()})
                counts[split] += copies * len(rows["images"])
        archives = {f"{Path(p).name}:{k}": v for p, i in zip((p for p, *_ in parts), infos, strict=True)
                    for k, v in i.attrs.get("archives", {}).items()}
        parts_text = [f"{Path(p).name}[{src}] x{copies} -> {dst}" for p, src, dst, copies in parts]
        write_attrs(f, StoreAttrs(crop=infos[0].crop, split_ranges=split_ranges(counts), version=__version__,
                                  archives=archives, source=f"{source}: " + "; ".join(parts_text)))
    return counts
