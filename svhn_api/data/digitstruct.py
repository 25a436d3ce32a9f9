"""Read SVHN's ``digitStruct.mat`` (MATLAB v7.3, i.e. HDF5) quickly and exactly (``digitstruct_writer``
writes it).

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
import os
from pathlib import Path
from typing import BinaryIO

import h5py
import numpy as np

from svhn_api.data.hdf5_raw import MSG_SYMBOL_TABLE, FileImage, Unsupported, map_file, raw_addresses, spread
from svhn_api.errors import DataError
from svhn_api.records import DigitBox, ImageRecord

__all__ = ["read_digitstruct", "read_digitstruct_per_element"]

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


def _fast_read(img: FileImage, name_addr: np.ndarray, bbox_addr: np.ndarray, where: str) -> list[ImageRecord]:
    names = _fast_names(img, name_addr, where)
    field_addr = _bbox_fields(img, bbox_addr, name_addr.size)
    values, counts = _field_values(img, field_addr)
    return _records(values, counts.reshape(len(names), len(_SORTED_FIELDS)), names, where)


def _fast_names(img: FileImage, name_addr: np.ndarray, where: str) -> list[str]:
    """The file names: (L, 1) uint16 char arrays."""
    headers = img.absolute(name_addr)
    dtype_pos, data_pos, data_size = img.datasets(headers)
    if not img.is_uint16(dtype_pos).all() or (data_size % 2).any():
        raise Unsupported("file names are not uint16 char arrays")
    char_pos, _ = spread(data_pos, data_size, 1)
    img._check(char_pos, 1)
    chars = img.buf[char_pos].tobytes()
    bounds = np.concatenate([[0], np.cumsum(data_size)]).tolist()
    return [_decode_name(chars[bounds[i] : bounds[i + 1]], where, i) for i in range(name_addr.size)]


def _bbox_fields(img: FileImage, bbox_addr: np.ndarray, n: int) -> np.ndarray:
    """The ``(n, 5)`` addresses of each bbox struct's fields (symbol-table groups with exactly the five)."""
    headers = img.absolute(bbox_addr)
    symtab = img.messages(headers, (MSG_SYMBOL_TABLE,))[MSG_SYMBOL_TABLE]
    if (symtab < 0).any():
        raise Unsupported("bbox is not a symbol-table group")
    tree = img.absolute(img.u64(symtab))
    heap = img.absolute(img.u64(symtab + 8))
    if not (img.has_signature(tree, b"TREE") and img.has_signature(heap, b"HEAP")):
        raise Unsupported("group B-tree or heap signature")
    if (img.u8(tree + 4) != 0).any() or (img.u8(tree + 5) != 0).any() or (img.u16(tree + 6) != 1).any():
        raise Unsupported("group B-tree is not a single leaf")
    snod = img.absolute(img.u64(tree + 32))
    if not img.has_signature(snod, b"SNOD") or (img.u8(snod + 4) != 1).any():
        raise Unsupported("symbol table node signature")
    if (img.u16(snod + 6) != len(_SORTED_FIELDS)).any():
        raise Unsupported("bbox group does not have exactly five members")
    heap_data = img.absolute(img.u64(heap + 24))
    field_addr = np.empty((n, len(_SORTED_FIELDS)), dtype=np.uint64)
    for slot, key in enumerate(_SORTED_FIELDS):
        entry = snod + 8 + 40 * slot
        name_pos = heap_data + img.u64(entry).astype(np.int64)
        expected = np.frombuffer(key.encode() + b"\0", np.uint8)
        if not (img.gather(name_pos, expected.size) == expected).all():
            raise Unsupported("bbox group members are not height/label/left/top/width")
        field_addr[:, slot] = img.u64(entry + 8)
    return field_addr


def _field_values(img: FileImage, field_addr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every field's values, concatenated, and how many each field holds: inline float64 values or arrays of
    references to (1, 1) float64 datasets."""
    headers = img.absolute(field_addr.ravel())
    dtype_pos, data_pos, data_size = img.datasets(headers)
    inline = img.is_float64(dtype_pos)
    refs = img.is_object_ref(dtype_pos)
    if not (inline | refs).all() or (data_size % 8).any():
        raise Unsupported("bbox field is neither float64 nor object references")
    counts = data_size // 8
    value_pos, owner = spread(data_pos, counts, 8)
    by_ref = refs[owner]
    if by_ref.any():
        value_headers = img.absolute(img.u64(value_pos[by_ref]))
        vdtype_pos, vdata_pos, vdata_size = img.datasets(value_headers)
        if not (img.is_float64(vdtype_pos).all() and (vdata_size == 8).all()):
            raise Unsupported("referenced bbox value is not a single float64")
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
    box_pos, box_owner = spread(field_start[:, 0], per_image, 1)  # index of each box's height value
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
        buf = map_file(path)
    else:
        if source.seekable():
            source.seek(0)
        data = source.read()
        h5_source = io.BytesIO(data)
        buf = np.frombuffer(data, dtype=np.uint8)
    with _open_h5(h5_source, where) as f:
        name_ds, bbox_ds = _top_arrays(f, where)
        try:
            name_addr, bbox_addr = raw_addresses(name_ds), raw_addresses(bbox_ds)
        except (OSError, ValueError, TypeError) as exc:
            raise DataError(f"{where}: cannot read /digitStruct references: {exc}. {FIX}") from None
    try:
        return _fast_read(FileImage(buf), name_addr, bbox_addr, where)
    except (Unsupported, IndexError, ValueError, OverflowError) as exc:
        log.info("%s: fast digitStruct reader not applicable (%s); reading element by element", where, exc)
    if isinstance(h5_source, io.BytesIO):
        h5_source.seek(0)
    return read_digitstruct_per_element(h5_source)
