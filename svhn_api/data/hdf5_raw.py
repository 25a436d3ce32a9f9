"""Reading HDF5 files' object headers straight from their bytes, vectorised over many objects at once: the
subset that MATLAB v7.3 files use (version-1 object headers, compact or contiguous layouts, symbol-table
groups). ``data.digitstruct`` reads SVHN's ``digitStruct.mat`` with it; anything else raises ``Unsupported``.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import h5py
import numpy as np
from h5py import h5s, h5t


class Unsupported(Exception):
    """The fast path met something it does not parse; the per-element reader takes over."""


_MSG_DATATYPE, _MSG_LAYOUT, _MSG_CONTINUATION, MSG_SYMBOL_TABLE = 0x0003, 0x0008, 0x0010, 0x0011
_UNDEFINED_ADDR = np.uint64(0xFFFFFFFFFFFFFFFF)


class FileImage:
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
            raise Unsupported("no superblock")
        version = int(self.buf[base + 8])
        if version in (0, 1):
            sizes = (int(self.buf[base + 13]), int(self.buf[base + 14]))
            base_addr = self._view("<u8")[base + (24 if version == 0 else 28)]
        elif version in (2, 3):
            sizes = (int(self.buf[base + 9]), int(self.buf[base + 10]))
            base_addr = self._view("<u8")[base + 12]
        else:
            raise Unsupported(f"superblock version {version}")
        if sizes != (8, 8):
            raise Unsupported(f"offset/length sizes {sizes}")
        self.base = int(base_addr)
        self.v8 = self.buf
        self.v16, self.v32, self.v64, self.vf64 = (self._view(t) for t in ("<u2", "<u4", "<u8", "<f8"))

    def _check(self, pos: np.ndarray, width: int) -> None:
        if pos.size and (pos.min() < 0 or pos.max() + width > self.size):
            raise Unsupported("address outside the file")

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
            raise Unsupported("undefined or out-of-range address")
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
            raise Unsupported("object header is not version 1")
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
            raise Unsupported("endless object header")
        return found

    def datasets(self, headers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(datatype message position, data position, data size in bytes) of datasets."""
        found = self.messages(headers, (_MSG_DATATYPE, _MSG_LAYOUT))
        dtype_pos, layout_pos = found[_MSG_DATATYPE], found[_MSG_LAYOUT]
        if (dtype_pos < 0).any() or (layout_pos < 0).any():
            raise Unsupported("object is not a dataset")
        if (self.u8(dtype_pos - 4) & 0x02).any():  # message flags: shared (committed) datatype
            raise Unsupported("shared datatype")
        version, layout = self.u8(layout_pos), self.u8(layout_pos + 1)
        if not np.isin(version, (3, 4)).all():
            raise Unsupported("old data layout message")
        compact = layout == 0
        if not (compact | (layout == 1)).all():
            raise Unsupported("chunked or virtual dataset")
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
            raise Unsupported("data outside the file")
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


def spread(starts: np.ndarray, counts: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``start + stride*j`` for j < count of every item, flattened, and each one's item index."""
    owner = np.repeat(np.arange(starts.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return starts[owner] + stride * (np.arange(owner.size) - first), owner


def map_file(path: Path) -> np.ndarray:
    """The file's bytes, memory-mapped (a plain ndarray view: np.memmap's per-slice overhead is high)."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return np.zeros(0, dtype=np.uint8)
        return np.frombuffer(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)


def raw_addresses(ds: h5py.Dataset) -> np.ndarray:
    """A reference array's contents as the object-header addresses they store (no dereferencing)."""
    out = np.empty(ds.shape, dtype=np.uint64)
    if out.size:
        ds.id.read(h5s.ALL, h5s.ALL, out, mtype=h5t.STD_REF_OBJ)
    return out.ravel()
