"""Read and write SVHN's ``digitStruct.mat`` (MATLAB v7.3, i.e. HDF5) quickly and exactly.

Layout of the official files (as MATLAB writes a struct array with fields ``name`` and ``bbox``):
``/digitStruct/name`` and ``/digitStruct/bbox`` are (N, 1) arrays of object references into ``/#refs#``.
A name points at a (L, 1) uint16 char array. A bbox points at a struct group with fields height, left,
top, width and label: a single-digit image stores each field inline as a (1, 1) float64 dataset, a
multi-digit one as a (k, 1) array of references to (1, 1) float64 datasets in ``/#refs#``.

The popular way to read it (``f[ref][()]`` for every field of every image, kept here as
:func:`read_digitstruct_per_element`) dereferences ~18 HDF5 objects per image through h5py and takes
minutes on the 202,353-entry extra file. :func:`read_digitstruct` instead uses h5py only to validate the
file and to read the two top-level reference arrays as raw object addresses, then parses the tiny
object headers those addresses point at (HDF5 version-1 object headers, compact or contiguous layouts,
symbol-table groups) with vectorised numpy over the whole file image at once. Anything it does not
recognise makes it fall back to the per-element reader, so unusual but valid files still read correctly.
"""

from __future__ import annotations

import io
import logging
import mmap
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import h5py
import numpy as np
from h5py import h5a, h5d, h5g, h5o, h5p, h5s, h5t

from svhn_api.atomic import atomic_path
from svhn_api.data.records import DigitBox, ImageRecord
from svhn_api.errors import DataError

__all__ = ["read_digitstruct", "read_digitstruct_per_element", "write_digitstruct"]

log = logging.getLogger(__name__)

Source = str | os.PathLike | BinaryIO

# Field order inside a bbox struct as MATLAB declares it (MATLAB_fields) and creates it.
MATLAB_FIELDS = ("height", "left", "top", "width", "label")
# The same fields in the byte order of their names: the order of a symbol-table group's entries.
_SORTED_FIELDS = tuple(sorted(MATLAB_FIELDS))  # height, label, left, top, width
FIX = "Re-download or re-extract the SVHN archive (delete it and run `svhn prepare` again)."


# --------------------------------------------------------------------------------------------------
# shared helpers


def _source_name(source: Source) -> str:
    """A label naming the file read, for error messages (like ``images.input_name``)."""
    if isinstance(source, str | os.PathLike):
        return str(source)
    name = getattr(source, "name", None)
    return str(name) if isinstance(name, str | os.PathLike) else "<digitStruct.mat file object>"


def _label(value: float, where: str, index: int) -> int:
    if not float(value).is_integer():
        raise DataError(f"{where}: entry {index} has a non-integer digit label {value!r}. {FIX}")
    return int(value)


def _decode_name(units: bytes, where: str, index: int) -> str:
    try:
        return units.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: entry {index} has an undecodable file name ({exc}). {FIX}") from None


def _open_h5(source: Source, where: str) -> h5py.File:
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{where} is not a readable MATLAB v7.3 (HDF5) digitStruct.mat: {exc}. {FIX}") from None


def _top_arrays(f: h5py.File, where: str) -> tuple[h5py.Dataset, h5py.Dataset]:
    """The /digitStruct/name and /digitStruct/bbox reference arrays, checked."""
    group = f.get("digitStruct")
    if not isinstance(group, h5py.Group):
        raise DataError(f"{where} has no /digitStruct group: not an SVHN digitStruct.mat. {FIX}")
    arrays = []
    for key in ("name", "bbox"):
        ds = group.get(key)
        if not isinstance(ds, h5py.Dataset):
            raise DataError(f"{where} has no /digitStruct/{key} dataset: not an SVHN digitStruct.mat. {FIX}")
        if h5py.check_ref_dtype(ds.dtype) is not h5py.Reference:
            raise DataError(f"{where}: /digitStruct/{key} holds {ds.dtype}, not object references. {FIX}")
        if ds.ndim not in (1, 2) or (ds.ndim == 2 and 1 not in ds.shape):
            raise DataError(f"{where}: /digitStruct/{key} has shape {ds.shape}, expected (N, 1). {FIX}")
        arrays.append(ds)
    if arrays[0].size != arrays[1].size:
        raise DataError(
            f"{where}: /digitStruct/name has {arrays[0].size} entries but /digitStruct/bbox has "
            f"{arrays[1].size}. {FIX}"
        )
    return arrays[0], arrays[1]


# --------------------------------------------------------------------------------------------------
# the per-element reader: slow, simple, the oracle


def read_digitstruct_per_element(source: Source) -> list[ImageRecord]:
    """Read a digitStruct.mat the popular way: one ``f[ref][()]`` per field of every image.

    Slow (minutes on the extra split) but obviously correct; it is the benchmark baseline, the test
    oracle, and the fallback of :func:`read_digitstruct` for files it does not recognise.
    """
    where = _source_name(source)
    if not isinstance(source, str | os.PathLike) and source.seekable():
        source.seek(0)
    with _open_h5(source, where) as f:
        name_ds, bbox_ds = _top_arrays(f, where)
        name_refs, bbox_refs = name_ds[()].ravel(), bbox_ds[()].ravel()
        records = []
        for i in range(name_refs.size):
            try:
                units = np.asarray(f[name_refs[i]][()], dtype="<u2").ravel()
                name = _decode_name(units.tobytes(), where, i)
                group = f[bbox_refs[i]]
                columns = {}
                for key in MATLAB_FIELDS:
                    field = group[key]
                    if h5py.check_ref_dtype(field.dtype) is h5py.Reference:
                        columns[key] = [float(np.asarray(f[r][()]).item()) for r in field[()].ravel()]
                    else:
                        columns[key] = [float(v) for v in np.asarray(field[()], dtype=np.float64).ravel()]
            except DataError:
                raise
            except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
                raise DataError(f"{where}: entry {i} does not have the digitStruct layout: {exc}. {FIX}") from None
            counts = {len(v) for v in columns.values()}
            if len(counts) != 1 or 0 in counts:
                sizes = {k: len(v) for k, v in columns.items()}
                raise DataError(f"{where}: entry {i} ({name}) has bbox fields of unequal sizes {sizes}. {FIX}")
            boxes = [
                DigitBox(_label(lab, where, i), left, top, width, height)
                for height, left, top, width, lab in zip(*(columns[k] for k in MATLAB_FIELDS), strict=True)
            ]
            records.append(ImageRecord(name, boxes))
    return records


# --------------------------------------------------------------------------------------------------
# the fast reader: vectorised parsing of HDF5 object headers


class _Unsupported(Exception):
    """The fast path met something it does not parse; the per-element reader takes over."""


_MSG_DATATYPE, _MSG_LAYOUT, _MSG_CONTINUATION, _MSG_SYMBOL_TABLE = 0x0003, 0x0008, 0x0010, 0x0011
_UNDEFINED_ADDR = np.uint64(0xFFFFFFFFFFFFFFFF)


class _Image:
    """The file's bytes as a uint8 array and the base address that HDF5 addresses are relative to."""

    def __init__(self, buf: np.ndarray) -> None:
        self.buf = buf
        self.size = buf.size
        base = -1
        for offset in (0, 512, 1024, 2048, 4096, 8192):  # the superblock sits at 0 or a power of 2 >= 512
            sig = bytes(self.buf[offset : offset + 8])
            if sig == b"\x89HDF\r\n\x1a\n":
                base = offset
                break
        if base < 0:
            raise _Unsupported("no superblock")
        version = int(self.buf[base + 8])
        if version in (0, 1):
            sizes = (int(self.buf[base + 13]), int(self.buf[base + 14]))
            base_addr = self._view("<u8")[base + (24 if version == 0 else 28)]
        elif version in (2, 3):
            sizes = (int(self.buf[base + 9]), int(self.buf[base + 10]))
            base_addr = self._view("<u8")[base + 12]
        else:
            raise _Unsupported(f"superblock version {version}")
        if sizes != (8, 8):
            raise _Unsupported(f"offset/length sizes {sizes}")
        self.base = int(base_addr)
        self.v8 = self.buf
        self.v16, self.v32, self.v64, self.vf64 = (self._view(t) for t in ("<u2", "<u4", "<u8", "<f8"))

    def _check(self, pos: np.ndarray, width: int) -> None:
        if pos.size and (pos.min() < 0 or pos.max() + width > self.size):
            raise _Unsupported("address outside the file")

    def gather(self, pos: np.ndarray, width: int) -> np.ndarray:
        self._check(pos, width)
        return self.buf[pos[:, None] + np.arange(width)]

    def _view(self, dtype: str) -> np.ndarray:
        """An overlapping view: element i is the value whose bytes start at file position i."""
        dt = np.dtype(dtype)
        count = max(self.size - dt.itemsize + 1, 0)
        return np.ndarray((count,), dtype=dt, buffer=self.buf, strides=(1,))

    def _read(self, view: np.ndarray, pos: np.ndarray) -> np.ndarray:
        self._check(pos, view.itemsize)
        return view[pos]

    def u8(self, pos: np.ndarray) -> np.ndarray:
        return self._read(self.v8, pos)

    def u16(self, pos: np.ndarray) -> np.ndarray:
        return self._read(self.v16, pos).astype(np.int64)

    def u32(self, pos: np.ndarray) -> np.ndarray:
        return self._read(self.v32, pos).astype(np.int64)

    def u64(self, pos: np.ndarray) -> np.ndarray:
        return self._read(self.v64, pos)

    def f64(self, pos: np.ndarray) -> np.ndarray:
        return self._read(self.vf64, pos)

    def absolute(self, addr: np.ndarray) -> np.ndarray:
        """File positions of HDF5 addresses (uint64), refusing undefined or out-of-range ones."""
        addr = np.asarray(addr, dtype=np.uint64)
        if ((addr == _UNDEFINED_ADDR) | (addr >= np.uint64(self.size))).any():
            raise _Unsupported("undefined or out-of-range address")
        return addr.astype(np.int64) + self.base

    def has_signature(self, pos: np.ndarray, signature: bytes) -> bool:
        return bool((self.gather(pos, len(signature)) == np.frombuffer(signature, np.uint8)).all())

    def messages(self, headers: np.ndarray, wanted: tuple[int, ...]) -> dict[int, np.ndarray]:
        """Position of the body of the first message of each wanted type in each v1 object header.

        Walks the message lists of all headers at once, continuation chunks included; -1 where absent.
        """
        n = headers.size
        found = {t: np.full(n, -1, dtype=np.int64) for t in wanted}
        if not (self.u8(headers) == 1).all():
            raise _Unsupported("object header is not version 1")
        obj = np.arange(n)
        pos = headers + 16
        end = pos + self.u32(headers + 8)
        for _ in range(10_000):  # bounded: each round advances every cursor by >= 8 bytes
            missing = np.zeros(obj.size, dtype=bool)
            for t in wanted:
                missing |= found[t][obj] < 0
            live = (pos + 8 <= end) & missing  # objects with everything found need no more walking
            obj, pos, end = obj[live], pos[live], end[live]
            if obj.size == 0:
                break
            kind = self.u16(pos)
            size = self.u16(pos + 2)
            for t in wanted:
                hit = (kind == t) & (found[t][obj] < 0)
                found[t][obj[hit]] = pos[hit] + 8
            cont = kind == _MSG_CONTINUATION
            if cont.any():
                cpos = pos[cont] + 8
                chunk_start = self.absolute(self.u64(cpos))
                chunk_end = chunk_start + self.u64(cpos + 8).astype(np.int64)
                obj = np.concatenate([obj, obj[cont]])
                new_pos = np.concatenate([pos + 8 + size, chunk_start])
                end = np.concatenate([end, chunk_end])
                pos = new_pos
            else:
                pos = pos + 8 + size
        else:  # pragma: no cover - only a corrupt loop of continuations gets here
            raise _Unsupported("endless object header")
        return found

    def datasets(self, headers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(datatype message position, data position, data size in bytes) of datasets."""
        found = self.messages(headers, (_MSG_DATATYPE, _MSG_LAYOUT))
        dtype_pos, layout_pos = found[_MSG_DATATYPE], found[_MSG_LAYOUT]
        if (dtype_pos < 0).any() or (layout_pos < 0).any():
            raise _Unsupported("object is not a dataset")
        if (self.u8(dtype_pos - 4) & 0x02).any():  # message flags: shared (committed) datatype
            raise _Unsupported("shared datatype")
        version, layout = self.u8(layout_pos), self.u8(layout_pos + 1)
        if not np.isin(version, (3, 4)).all():
            raise _Unsupported("old data layout message")
        compact = layout == 0
        if not (compact | (layout == 1)).all():
            raise _Unsupported("chunked or virtual dataset")
        data_pos = np.empty(headers.size, dtype=np.int64)
        data_size = np.empty(headers.size, dtype=np.int64)
        data_pos[compact] = layout_pos[compact] + 4
        data_size[compact] = self.u16(layout_pos[compact] + 2)
        contiguous = ~compact
        if contiguous.any():
            data_pos[contiguous] = self.absolute(self.u64(layout_pos[contiguous] + 2))
            data_size[contiguous] = self.u64(layout_pos[contiguous] + 10).astype(np.int64)
        self._check(data_pos[data_size > 0], 0)
        if data_size.size and (data_pos + data_size).max(initial=0) > self.size:
            raise _Unsupported("data outside the file")
        return dtype_pos, data_pos, data_size

    def is_uint16(self, dtype_pos: np.ndarray) -> np.ndarray:
        """Little-endian 16-bit integers (MATLAB chars are uint16; a signed type reads the same)."""
        ok = ((self.u8(dtype_pos) & 0x0F) == 0) & (self.u32(dtype_pos + 4) == 2)
        return ok & ((self.u8(dtype_pos + 1) & 0x01) == 0)

    def is_object_ref(self, dtype_pos: np.ndarray) -> np.ndarray:
        """Object references (class 7, type 0), 8 bytes: the referenced object's header address."""
        ok = ((self.u8(dtype_pos) & 0x0F) == 7) & (self.u32(dtype_pos + 4) == 8)
        return ok & ((self.u8(dtype_pos + 1) & 0x0F) == 0)

    def is_float64(self, dtype_pos: np.ndarray) -> np.ndarray:
        """IEEE little-endian doubles: class 1, size 8, LE, precision 64, 11-bit exponent, 52-bit mantissa."""
        ok = ((self.u8(dtype_pos) & 0x0F) == 1) & (self.u32(dtype_pos + 4) == 8)
        ok &= (self.u8(dtype_pos + 1) & 0x41) == 0
        ok &= (self.u16(dtype_pos + 10) == 64) & (self.u8(dtype_pos + 13) == 11) & (self.u8(dtype_pos + 15) == 52)
        return ok


def _spread(starts: np.ndarray, counts: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``start + stride*j`` for j < count of every item, flattened, and each one's item index."""
    owner = np.repeat(np.arange(starts.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return starts[owner] + stride * (np.arange(owner.size) - first), owner


def _fast_read(img: _Image, name_addr: np.ndarray, bbox_addr: np.ndarray, where: str) -> list[ImageRecord]:
    names = _fast_names(img, name_addr, where)
    field_addr = _bbox_fields(img, bbox_addr, name_addr.size)
    values, counts = _field_values(img, field_addr)
    return _records(values, counts.reshape(len(names), len(_SORTED_FIELDS)), names, where)


def _fast_names(img: _Image, name_addr: np.ndarray, where: str) -> list[str]:
    """The file names: (L, 1) uint16 char arrays."""
    headers = img.absolute(name_addr)
    dtype_pos, data_pos, data_size = img.datasets(headers)
    if not img.is_uint16(dtype_pos).all() or (data_size % 2).any():
        raise _Unsupported("file names are not uint16 char arrays")
    char_pos, _ = _spread(data_pos, data_size, 1)
    img._check(char_pos, 1)
    chars = img.buf[char_pos].tobytes()
    bounds = np.concatenate([[0], np.cumsum(data_size)]).tolist()
    return [_decode_name(chars[bounds[i] : bounds[i + 1]], where, i) for i in range(name_addr.size)]


def _bbox_fields(img: _Image, bbox_addr: np.ndarray, n: int) -> np.ndarray:
    """The ``(n, 5)`` addresses of each bbox struct's fields (symbol-table groups with exactly the five)."""
    headers = img.absolute(bbox_addr)
    symtab = img.messages(headers, (_MSG_SYMBOL_TABLE,))[_MSG_SYMBOL_TABLE]
    if (symtab < 0).any():
        raise _Unsupported("bbox is not a symbol-table group")
    tree = img.absolute(img.u64(symtab))
    heap = img.absolute(img.u64(symtab + 8))
    if not (img.has_signature(tree, b"TREE") and img.has_signature(heap, b"HEAP")):
        raise _Unsupported("group B-tree or heap signature")
    if (img.u8(tree + 4) != 0).any() or (img.u8(tree + 5) != 0).any() or (img.u16(tree + 6) != 1).any():
        raise _Unsupported("group B-tree is not a single leaf")
    snod = img.absolute(img.u64(tree + 32))
    if not img.has_signature(snod, b"SNOD") or (img.u8(snod + 4) != 1).any():
        raise _Unsupported("symbol table node signature")
    if (img.u16(snod + 6) != len(_SORTED_FIELDS)).any():
        raise _Unsupported("bbox group does not have exactly five members")
    heap_data = img.absolute(img.u64(heap + 24))
    field_addr = np.empty((n, len(_SORTED_FIELDS)), dtype=np.uint64)
    for slot, key in enumerate(_SORTED_FIELDS):
        entry = snod + 8 + 40 * slot
        name_pos = heap_data + img.u64(entry).astype(np.int64)
        expected = np.frombuffer(key.encode() + b"\0", np.uint8)
        if not (img.gather(name_pos, expected.size) == expected).all():
            raise _Unsupported("bbox group members are not height/label/left/top/width")
        field_addr[:, slot] = img.u64(entry + 8)
    return field_addr


def _field_values(img: _Image, field_addr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every field's values, concatenated, and how many each field holds: inline float64 values or arrays of
    references to (1, 1) float64 datasets."""
    headers = img.absolute(field_addr.ravel())
    dtype_pos, data_pos, data_size = img.datasets(headers)
    inline = img.is_float64(dtype_pos)
    refs = img.is_object_ref(dtype_pos)
    if not (inline | refs).all() or (data_size % 8).any():
        raise _Unsupported("bbox field is neither float64 nor object references")
    counts = data_size // 8
    value_pos, owner = _spread(data_pos, counts, 8)
    by_ref = refs[owner]
    if by_ref.any():
        value_headers = img.absolute(img.u64(value_pos[by_ref]))
        vdtype_pos, vdata_pos, vdata_size = img.datasets(value_headers)
        if not (img.is_float64(vdtype_pos).all() and (vdata_size == 8).all()):
            raise _Unsupported("referenced bbox value is not a single float64")
        value_pos[by_ref] = vdata_pos
    return img.f64(value_pos), counts


def _records(values: np.ndarray, counts: np.ndarray, names: list[str], where: str) -> list[ImageRecord]:
    """One record per image from the field values (``counts``: ``(n, 5)`` values per field; equal per image)."""
    per_image = counts[:, 0]
    if (counts != per_image[:, None]).any() or (per_image == 0).any():
        bad = int(np.flatnonzero((counts != per_image[:, None]).any(axis=1) | (per_image == 0))[0])
        sizes = dict(zip(_SORTED_FIELDS, counts[bad].tolist(), strict=True))
        raise DataError(f"{where}: entry {bad} ({names[bad]}) has bbox fields of unequal sizes {sizes}. {FIX}")
    field_start = (np.cumsum(counts.ravel()) - counts.ravel()).reshape(counts.shape)
    box_pos, box_owner = _spread(field_start[:, 0], per_image, 1)  # index of each box's height value
    offset = box_pos - field_start[box_owner, 0]
    columns = {key: values[field_start[box_owner, slot] + offset] for slot, key in enumerate(_SORTED_FIELDS)}
    labels = columns["label"]
    if (labels != np.floor(labels)).any():
        bad = int(box_owner[np.flatnonzero(labels != np.floor(labels))[0]])
        raise DataError(f"{where}: entry {bad} has a non-integer digit label. {FIX}")
    boxes = list(map(DigitBox, labels.astype(np.int64).tolist(), columns["left"].tolist(),
                     columns["top"].tolist(), columns["width"].tolist(), columns["height"].tolist()))
    bounds = np.concatenate([[0], np.cumsum(per_image)]).tolist()
    return [ImageRecord(names[i], boxes[bounds[i] : bounds[i + 1]]) for i in range(len(names))]


def _map(path: Path) -> np.ndarray:
    """The file's bytes, memory-mapped (a plain ndarray view: np.memmap's per-slice overhead is high)."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return np.zeros(0, dtype=np.uint8)
        return np.frombuffer(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)


def _raw_addresses(ds: h5py.Dataset) -> np.ndarray:
    """A reference array's contents as the object-header addresses they store (no dereferencing)."""
    out = np.empty(ds.shape, dtype=np.uint64)
    if out.size:
        ds.id.read(h5s.ALL, h5s.ALL, out, mtype=h5t.STD_REF_OBJ)
    return out.ravel()


def read_digitstruct(source: Source) -> list[ImageRecord]:
    """Read an SVHN ``digitStruct.mat`` (path or binary file object) into records, in file order.

    Labels are kept as stored (1-10, 10 means the digit 0); box values are floats. Raises
    :class:`~svhn_api.errors.DataError` naming the file when it is not an HDF5 digitStruct.mat.
    """
    where = _source_name(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{where} does not exist or is not a file. {FIX}")
        h5_source: Source = path
        buf = _map(path)
    else:
        if source.seekable():
            source.seek(0)
        data = source.read()
        h5_source = io.BytesIO(data)
        buf = np.frombuffer(data, dtype=np.uint8)
    with _open_h5(h5_source, where) as f:
        name_ds, bbox_ds = _top_arrays(f, where)
        try:
            name_addr, bbox_addr = _raw_addresses(name_ds), _raw_addresses(bbox_ds)
        except (OSError, ValueError, TypeError) as exc:
            raise DataError(f"{where}: cannot read /digitStruct references: {exc}. {FIX}") from None
    try:
        return _fast_read(_Image(buf), name_addr, bbox_addr, where)
    except (_Unsupported, IndexError, ValueError, OverflowError) as exc:
        log.info("%s: fast digitStruct reader not applicable (%s); reading element by element", where, exc)
    if isinstance(h5_source, io.BytesIO):
        h5_source.seek(0)
    return read_digitstruct_per_element(h5_source)


# --------------------------------------------------------------------------------------------------
# the writer: the exact MATLAB v7.3 layout


_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890"
_USERBLOCK = 512
_FIXED_CREATED = time.struct_time((1970, 1, 1, 0, 0, 0, 3, 1, 0))
_COMPACT_LIMIT = 8 * 1024  # top-level reference arrays above this are stored contiguously


def _ref_name(index: int) -> str:
    """MATLAB's names for /#refs# members: a, b, ..., z, A, ..., Z, 1, ..., 9, 0, ab, bb, ... (base 62)."""
    digits = []
    while True:
        index, d = divmod(index, len(_ALPHABET))
        digits.append(_ALPHABET[d])
        if index == 0:
            return "".join(digits)


def _matlab_header(created: time.struct_time) -> bytes:
    text = "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {} HDF5 schema 1.00 .".format(
        time.strftime("%a %b %d %H:%M:%S %Y", created)
    )
    head = text.encode("ascii").ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM"
    return head.ljust(_USERBLOCK, b"\0")


class _Writer:
    """Low-level h5py calls with cached types, spaces and property lists (a few µs per object)."""

    def __init__(self, fid: h5py.h5f.FileID) -> None:
        self.root = h5g.open(fid, b"/")
        self.gcpl = h5p.create(h5p.GROUP_CREATE)
        self.gcpl.set_obj_track_times(False)  # no timestamps: identical input gives identical bytes
        self.compact = h5p.create(h5p.DATASET_CREATE)
        self.compact.set_layout(h5d.COMPACT)
        self.compact.set_obj_track_times(False)
        self.contiguous = h5p.create(h5p.DATASET_CREATE)
        self.contiguous.set_layout(h5d.CONTIGUOUS)
        self.contiguous.set_obj_track_times(False)
        self.scalar = h5s.create(h5s.SCALAR)
        self.spaces: dict[tuple[int, ...], h5s.SpaceID] = {}
        self.str_types: dict[int, h5t.TypeID] = {}
        field_type = h5t.vlen_create(self.str_type(1))
        self.fields_attr: dict[tuple[str, ...], tuple[Any, Any]] = {
            fields: (field_type, self._vlen_buffer(fields)) for fields in (("name", "bbox"), MATLAB_FIELDS)
        }
        self.one = np.empty((1, 1), dtype="<f8")

    @staticmethod
    def _vlen_buffer(fields: tuple[str, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
        chars = [np.frombuffer(f.encode("ascii"), dtype=np.uint8).copy() for f in fields]
        hvl = np.empty(len(fields), dtype=[("len", np.uintp), ("p", np.uintp)])
        hvl["len"] = [c.size for c in chars]
        hvl["p"] = [c.ctypes.data for c in chars]
        return hvl, chars  # chars keeps the memory the pointers point at alive

    def space(self, shape: tuple[int, ...]) -> h5s.SpaceID:
        space = self.spaces.get(shape)
        if space is None:
            space = self.spaces[shape] = h5s.create_simple(shape)
        return space

    def str_type(self, size: int) -> h5t.TypeID:
        tid = self.str_types.get(size)
        if tid is None:
            tid = h5t.C_S1.copy()
            tid.set_size(size)
            tid.set_strpad(h5t.STR_NULLTERM)
            tid.set_cset(h5t.CSET_ASCII)
            self.str_types[size] = tid
        return tid

    def group(self, loc, name: str):
        return h5g.create(loc, name.encode(), gcpl=self.gcpl)

    def dataset(self, loc, name: str, tid, data: np.ndarray, compact: bool = True) -> h5d.DatasetID:
        """Create a dataset and write ``data`` (raw: for references, the target addresses)."""
        ds = h5d.create(
            loc, name.encode(), tid, self.space(data.shape), dcpl=self.compact if compact else self.contiguous
        )
        ds.write(h5s.ALL, h5s.ALL, data, mtype=tid)
        return ds

    def attr_str(self, obj, name: bytes, value: str) -> None:
        raw = value.encode("ascii")
        tid = self.str_type(len(raw))
        h5a.create(obj, name, tid, self.scalar).write(np.array(raw, dtype=f"S{len(raw)}"), mtype=tid)

    def attr_int(self, obj, name: bytes, tid, value: np.ndarray) -> None:
        h5a.create(obj, name, tid, self.scalar).write(value, mtype=tid)

    def attr_fields(self, obj, fields: tuple[str, ...]) -> None:
        tid, (hvl, _chars) = self.fields_attr[fields]
        h5a.create(obj, b"MATLAB_fields", tid, self.space((len(fields),))).write(hvl, mtype=tid)

    def double(self, loc, name: str, value: float, h5path: str) -> int:
        self.one[0, 0] = value
        ds = self.dataset(loc, name, h5t.IEEE_F64LE, self.one)
        self.attr_str(ds, b"MATLAB_class", "double")
        self.attr_str(ds, b"H5PATH", h5path)
        return _address(ds)


def _address(obj) -> int:
    """An object's header address: exactly what an HDF5 object reference to it stores."""
    return h5o.get_info(obj).addr


def _check_records(records: list[ImageRecord]) -> None:
    if not records:
        raise ValueError("write_digitstruct needs at least one record")
    for rec in records:
        if not rec.filename:
            raise ValueError("a record has an empty file name")
        if not rec.boxes:
            raise ValueError(f"record {rec.filename!r} has no digit boxes; digitStruct needs at least one")


def _build(f: h5py.File, records: list[ImageRecord]) -> None:
    w = _Writer(f.id)
    digit_struct = w.group(w.root, "digitStruct")
    w.attr_str(digit_struct, b"MATLAB_class", "struct")
    w.attr_fields(digit_struct, ("name", "bbox"))
    refs = w.group(w.root, "#refs#")
    empty = w.dataset(refs, "a", h5t.STD_U64LE, np.zeros(2, dtype="<u8"))  # MATLAB's canonical empty array
    w.attr_int(empty, b"MATLAB_empty", h5t.STD_U8LE, np.array(1, dtype=np.uint8))
    w.attr_str(empty, b"MATLAB_class", "canonical empty")
    counter = 1
    int_decode = np.array(2, dtype="<i4")

    name_addr = np.empty((len(records), 1), dtype=np.uint64)
    for i, rec in enumerate(records):
        key = _ref_name(counter)
        counter += 1
        units = np.frombuffer(rec.filename.encode("utf-16-le"), dtype="<u2").reshape(-1, 1)
        name = w.dataset(refs, key, h5t.STD_U16LE, units)
        w.attr_str(name, b"MATLAB_class", "char")
        w.attr_int(name, b"MATLAB_int_decode", h5t.STD_I32LE, int_decode)
        w.attr_str(name, b"H5PATH", f"/#refs#/{key}")
        name_addr[i, 0] = _address(name)
    w.dataset(digit_struct, "name", h5t.STD_REF_OBJ, name_addr, compact=name_addr.nbytes <= _COMPACT_LIMIT)

    bbox_addr = np.empty((len(records), 1), dtype=np.uint64)
    for i, rec in enumerate(records):
        key = _ref_name(counter)
        counter += 1
        group = w.group(refs, key)
        bbox_addr[i, 0] = _address(group)
        w.attr_str(group, b"MATLAB_class", "struct")
        w.attr_str(group, b"H5PATH", f"/#refs#/{key}")
        w.attr_fields(group, MATLAB_FIELDS)
        columns: dict[str, list[float]] = {
            "height": [b.height for b in rec.boxes],
            "left": [b.left for b in rec.boxes],
            "top": [b.top for b in rec.boxes],
            "width": [b.width for b in rec.boxes],
            "label": [b.label for b in rec.boxes],
        }
        if len(rec.boxes) == 1:  # a 1x1 struct: MATLAB stores the values inline (and this odd H5PATH)
            for field in MATLAB_FIELDS:
                w.double(group, field, float(columns[field][0]), f"/#refs#/{key}{key}")
            continue
        for field in MATLAB_FIELDS:
            addrs = np.empty((len(rec.boxes), 1), dtype=np.uint64)
            for j, value in enumerate(columns[field]):
                value_key = _ref_name(counter)
                counter += 1
                addrs[j, 0] = w.double(refs, value_key, float(value), f"/#refs#/{value_key}")
            w.dataset(group, field, h5t.STD_REF_OBJ, addrs)
    w.dataset(digit_struct, "bbox", h5t.STD_REF_OBJ, bbox_addr, compact=bbox_addr.nbytes <= _COMPACT_LIMIT)


def _h5_create(name: str | Path, **kwargs) -> h5py.File:
    return h5py.File(name, "w", userblock_size=_USERBLOCK, libver="earliest", **kwargs)


def write_digitstruct(
    target: str | os.PathLike | BinaryIO,
    records: Iterable[ImageRecord],
    *,
    created: time.struct_time | None = None,
) -> None:
    """Write records as an official-layout SVHN ``digitStruct.mat`` (MATLAB v7.3) to a path or file object.

    Single-digit images get inline fields, multi-digit ones references, as MATLAB does. The header's
    "Created on" date is ``created`` (default: a fixed date, so the same records give the same bytes).
    Writing to a path is atomic (``svhn_api.atomic``: a temp file in the same folder, then a rename).
    """
    records = list(records)
    _check_records(records)
    header = _matlab_header(created or _FIXED_CREATED)
    if isinstance(target, str | os.PathLike):
        with atomic_path(target) as tmp:
            with _h5_create(tmp) as f:
                _build(f, records)
            with open(tmp, "r+b") as fh:
                fh.write(header)
        return
    with _h5_create(f"digitstruct-{uuid.uuid4().hex}.mat", driver="core", backing_store=False) as f:
        _build(f, records)
        f.flush()
        image = f.id.get_file_image()  # starts at the superblock: the userblock is not part of it
    target.write(header + image)
