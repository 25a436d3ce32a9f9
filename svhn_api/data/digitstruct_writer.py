"""Writing SVHN's ``digitStruct.mat`` in the exact MATLAB v7.3 layout (HDF5 with a 512-byte MATLAB user
block), the same bytes for the same records (a fixed creation time): the archive writer uses it."""

from __future__ import annotations

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
from svhn_api.data.digitstruct import MATLAB_FIELDS
from svhn_api.records import ImageRecord

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

    def group(self, loc: Any, name: str) -> h5g.GroupID:
        return h5g.create(loc, name.encode(), gcpl=self.gcpl)

    def dataset(self, loc: Any, name: str, tid: h5t.TypeID, data: np.ndarray, compact: bool = True) -> h5d.DatasetID:
        """Create a dataset and write ``data`` (raw: for references, the target addresses)."""
        ds = h5d.create(
            loc, name.encode(), tid, self.space(data.shape), dcpl=self.compact if compact else self.contiguous
        )
        ds.write(h5s.ALL, h5s.ALL, data, mtype=tid)
        return ds

    def attr_str(self, obj: Any, name: bytes, value: str) -> None:
        raw = value.encode("ascii")
        tid = self.str_type(len(raw))
        h5a.create(obj, name, tid, self.scalar).write(np.array(raw, dtype=f"S{len(raw)}"), mtype=tid)

    def attr_int(self, obj: Any, name: bytes, tid: h5t.TypeID, value: np.ndarray) -> None:
        h5a.create(obj, name, tid, self.scalar).write(value, mtype=tid)

    def attr_fields(self, obj: Any, fields: tuple[str, ...]) -> None:
        tid, (hvl, _chars) = self.fields_attr[fields]
        h5a.create(obj, b"MATLAB_fields", tid, self.space((len(fields),))).write(hvl, mtype=tid)

    def double(self, loc: Any, name: str, value: float, h5path: str) -> int:
        self.one[0, 0] = value
        ds = self.dataset(loc, name, h5t.IEEE_F64LE, self.one)
        self.attr_str(ds, b"MATLAB_class", "double")
        self.attr_str(ds, b"H5PATH", h5path)
        return _address(ds)


def _address(obj: Any) -> int:
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


def _h5_create(name: str | Path, **kwargs: Any) -> h5py.File:
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
