"""Reading a PyTorch checkpoint (what ``torch.save(model.state_dict(), path)`` writes) as numpy arrays,
without PyTorch and without running anything the file asks for.

A ``.pth`` file is a zip: ``<root>/data.pkl`` (a pickle of the state dict, in which every tensor is a call
to ``torch._utils._rebuild_tensor_v2`` on a storage named by a persistent id), ``<root>/data/<key>`` (each
storage's raw bytes), ``<root>/byteorder`` and a few version files. A pickle can call any importable
function while it loads (``os.system`` included), so ``torch.load`` on an untrusted file runs its code.
Here the unpickler resolves only the handful of globals a plain state dict needs, each mapped to a numpy
function of ours, and refuses every other one before it can be called; opcodes that build objects by other
routes are refused before unpickling starts. The zip itself is checked too: member names, counts, declared
and actual sizes.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svhn_api.errors import ModelError

MAX_BYTES = 1 << 30           # all storages together: far above any model this project reads
MAX_PICKLE_BYTES = 16 << 20   # data.pkl: a state dict's pickle is kilobytes
MAX_MEMBERS = 100_000
MAX_MEMO = 1_000_000          # pickle memo slots
# Opcodes that build objects by routes a state dict's pickle never takes (old-style instances, __new__ calls,
# the copyreg extension registry, text persistent ids): refused before unpickling starts.
_REFUSED_OPCODES = {"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "PERSID"}
_FIX = "load only checkpoints from a source you trust, saved with torch.save(model.state_dict(), path)"


@dataclass(frozen=True)
class _StorageType:
    """A storage kind: its name in torch (``FloatStorage``) and its little-endian numpy dtype. Never handed to
    the pickle (which gets a ``_Token``), so nothing in a file can change it."""

    name: str
    dtype: str


_STORAGES = {t.name: t for t in (
    _StorageType("DoubleStorage", "<f8"), _StorageType("FloatStorage", "<f4"),
    _StorageType("HalfStorage", "<f2"), _StorageType("BFloat16Storage", "<u2"),   # widened to float32
    _StorageType("LongStorage", "<i8"), _StorageType("IntStorage", "<i4"), _StorageType("ShortStorage", "<i2"),
    _StorageType("CharStorage", "i1"), _StorageType("ByteStorage", "u1"), _StorageType("BoolStorage", "?"),
)}


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])``:
    a view of the flat storage with that offset, shape and element strides, copied (C order, owns its data).
    """
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise ValueError("a tensor whose storage is not a storage")
    ints = [offset, *size, *stride] if isinstance(size, tuple) and isinstance(stride, tuple) else None
    if ints is None or len(size) != len(stride) or not all(type(v) is int for v in ints):
        raise ValueError(f"a tensor with malformed offset/size/stride {offset!r}, {size!r}, {stride!r}")
    if offset < 0 or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise ValueError(f"a tensor with negative offset/size/stride {offset}, {size}, {stride}")
    if any(n == 0 for n in size):
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.size:
        raise ValueError(f"a tensor (offset {offset}, shape {size}, strides {stride}) reaches past its "
                         f"storage of {storage.size} elements")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=[s * storage.itemsize for s in stride], writeable=False)
    return np.array(view, order="C")


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    """``torch._utils._rebuild_parameter(data, requires_grad, hooks)``: a parameter is its tensor."""
    if not isinstance(data, np.ndarray):
        raise ValueError("a parameter that is not a tensor")
    return data


# The only globals a state dict's pickle may name. What find_class hands out is immutable (the OrderedDict
# type) or made afresh for each load (storage tokens, the rebuild functions), so that a pickle's BUILD, which
# sets attributes on whatever it is given, cannot change anything beyond the load that asked.
_ALLOWED = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_parameter"), *(("torch", name) for name in _STORAGES)}


class _Token:
    """A storage kind as the pickle sees it: an attribute-less object, one per kind and load."""

    __slots__ = ()


class _Refused(Exception):
    """A global, persistent id or opcode outside the allowlist (kept apart from malformed-file errors)."""


class _StateUnpickler(pickle.Unpickler):
    """Resolves only ``_ALLOWED``; storages come from the zip through ``persistent_load``. Stateful: this
    load's tokens, the storages read so far, the bytes of tensors built so far (capped at ``max_bytes``)."""

    def __init__(self, data: bytes, storages: dict[str, bytes], byteorder: str, max_bytes: int) -> None:
        super().__init__(io.BytesIO(data))
        self._storages = storages
        self._byteorder = byteorder
        self._max = self._left = max_bytes
        self._loaded: dict[str, tuple[_StorageType, np.ndarray]] = {}
        self._tokens = {name: _Token() for name in _STORAGES}
        self._kinds = {id(token): _STORAGES[name] for name, token in self._tokens.items()}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise _Refused(f"refuses the global {module}.{name}")
        if module == "torch":
            return self._tokens[name]
        if name == "OrderedDict":
            return collections.OrderedDict

        def rebuild(*args: Any) -> np.ndarray:   # a new function object per lookup
            return self._rebuild_tensor(*args) if name == "_rebuild_tensor_v2" else _rebuild_parameter(*args)

        return rebuild

    def _rebuild_tensor(self, storage: np.ndarray, offset: int, size: tuple, stride: tuple, *rest: Any) -> np.ndarray:
        if isinstance(size, tuple) and all(type(n) is int and n >= 0 for n in size):
            nbytes = int(np.prod(size, dtype=np.float64)) * getattr(storage, "itemsize", 1)
            if nbytes > self._left:   # checked before the copy: stride 0 can make a huge tensor of a tiny storage
                raise ValueError(f"tensors over the {self._max:,}-byte limit (one of shape {size})")
            self._left -= nbytes
        return _rebuild_tensor(storage, offset, size, stride, *rest)

    def persistent_load(self, pid: Any) -> np.ndarray:
        kind = self._kinds.get(id(pid[1])) if isinstance(pid, tuple) and len(pid) == 5 else None
        if not (kind is not None and pid[1] is self._tokens[kind.name] and pid[0] == "storage"
                and isinstance(pid[2], str) and type(pid[4]) is int):
            raise _Refused(f"refuses the persistent id {str(pid)[:80]!r} (only tensor storages are read)")
        key, numel = pid[2], pid[4]
        if key in self._loaded:
            if self._loaded[key][0] != kind:
                raise ValueError(f"the storage data/{key} is read as two different types")
            return self._loaded[key][1]
        if key not in self._storages:
            raise ValueError(f"the storage data/{key} is missing")
        raw = self._storages[key]
        dtype = np.dtype(kind.dtype).newbyteorder(">" if self._byteorder == "big" else "<")
        if numel < 0 or len(raw) != numel * dtype.itemsize:
            raise ValueError(f"the storage data/{key} holds {len(raw)} bytes, not {numel} x {dtype.itemsize}")
        arr = np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))
        if kind.name == "BFloat16Storage":   # numpy has no bfloat16: its bits are a float32's upper half
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        self._loaded[key] = (kind, arr)
        return arr


def _unsafe_name(n: str) -> bool:
    parts = n.split("/")
    return (n.startswith("/") or "\\" in n or any(ord(c) < 32 for c in n) or ":" in parts[0]
            or any(part in ("", ".", "..") for part in parts))


def _root(zf: zipfile.ZipFile, name: str, max_bytes: int) -> str:
    """Check the archive's members; return its root folder (``<root>/data.pkl``)."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelError(f"{name}: {len(infos):,} files in the checkpoint archive, over the {MAX_MEMBERS:,} "
                         f"limit; {_FIX}")
    seen: set[str] = set()
    for info in infos:
        if _unsafe_name(info.filename) or info.filename in seen:
            raise ModelError(f"{name}: unsafe or duplicate member name {info.filename!r} in the checkpoint "
                             f"archive; {_FIX}")
        seen.add(info.filename)
    roots = [n[: -len("/data.pkl")] for n in seen if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(roots) != 1:
        raise ModelError(f"{name}: not a PyTorch zip checkpoint (expected exactly one <name>/data.pkl, found "
                         f"{len(roots)}); {_FIX}")
    root = roots[0]
    strays = sorted(n for n in seen if not n.startswith(root + "/"))
    if strays:
        raise ModelError(f"{name}: files outside the checkpoint's folder {root}/ ({strays[:3]}); {_FIX}")
    tensors = sum(i.file_size for i in infos if i.filename.startswith(f"{root}/data/"))
    others = sum(i.file_size for i in infos) - tensors
    if tensors > max_bytes:
        raise ModelError(f"{name}: the checkpoint's tensors unpack to {tensors:,} bytes, over the {max_bytes:,}-byte "
                         "limit; pass a larger max_bytes if this model really is that large")
    if others > MAX_PICKLE_BYTES:
        raise ModelError(f"{name}: {others:,} bytes of files besides the tensors, over the {MAX_PICKLE_BYTES:,}-byte "
                         f"limit: not a plain state dict; {_FIX}")
    return root


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise ValueError(f"{info.filename} is {info.file_size:,} bytes, over the {limit:,}-byte limit")
    with zf.open(info) as f:
        data = f.read(info.file_size + 1)     # never more than declared (+1 to notice a lie); CRC checked at end
    if len(data) != info.file_size:
        raise ValueError(f"{info.filename} does not hold the {info.file_size} bytes it declares")
    return data


def _check_opcodes(data: bytes) -> None:
    """Refuse opcodes a state dict never needs, and memo indices that would make the C unpickler allocate
    a memo table of gigabytes, before anything is unpickled."""
    for op, arg, _pos in pickletools.genops(data):
        if op.name in _REFUSED_OPCODES:
            raise _Refused(f"refuses the pickle opcode {op.name}")
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET") and int(arg or 0) > MAX_MEMO:
            raise _Refused(f"refuses the memo index {arg}")


def read_state(source: str | os.PathLike | bytes, *, name: str | None = None, key: str | None = None,
               max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state-dict checkpoint (a path, or the file's bytes), by parameter name, as
    numpy arrays in C order. ``key`` picks a nested state dict (e.g. ``"state_dict"`` in a training
    checkpoint). ``name`` is how errors name the file (default: the path)."""
    name = name or (str(source) if not isinstance(source, bytes | bytearray) else "<checkpoint bytes>")
    try:
        if isinstance(source, bytes | bytearray):
            zf = zipfile.ZipFile(io.BytesIO(bytes(source)))
        else:
            zf = zipfile.ZipFile(Path(source))
    except FileNotFoundError:
        raise ModelError(f"{name}: no such checkpoint file") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelError(f"{name}: not a PyTorch zip checkpoint ({e}); files from torch before 1.6 must be "
                         "re-saved with a current torch.save") from None
    with zf:
        root = _root(zf, name, max_bytes)
        try:
            infos = {i.filename: i for i in zf.infolist()}
            data = _read_member(zf, infos[f"{root}/data.pkl"], MAX_PICKLE_BYTES)
            order = infos.get(f"{root}/byteorder")
            byteorder = _read_member(zf, order, 16).decode("ascii").strip() if order else "little"
            if byteorder not in ("little", "big"):
                raise ValueError(f"unknown byte order {byteorder!r}")
            prefix = f"{root}/data/"
            _check_opcodes(data)
            storages = {n[len(prefix):]: _read_member(zf, info, max_bytes)   # total checked in _root
                        for n, info in infos.items() if n.startswith(prefix)}
            obj = _StateUnpickler(data, storages, byteorder, max_bytes).load()
        except _Refused as e:
            raise ModelError(f"{name}: {e}: a plain state dict of tensors needs none, and loading this file with "
                             f"torch.load could run code; {_FIX}") from None
        except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError, EOFError,
                OverflowError, MemoryError, RecursionError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError) as e:   # RuntimeError, NotImplementedError: zipfile's encrypted or unknown members
            raise ModelError(f"{name}: malformed checkpoint ({e.__class__.__name__}: {e}); {_FIX}") from None
    return _tensors(obj, name, key)


def _tensors(obj: Any, name: str, key: str | None) -> dict[str, np.ndarray]:
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            keys = list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
            raise ModelError(f"{name}: no {key!r} in this checkpoint (it holds {keys})")
        obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise ModelError(f"{name}: not a state dict (it holds a {type(obj).__name__}); save one with "
                         "torch.save(model.state_dict(), path)")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, np.ndarray)]
    if bad:
        nested = [k for k in bad if isinstance(obj.get(k), dict)]
        hint = f"; pick the state dict with key={nested[0]!r}" if nested else ""
        raise ModelError(f"{name}: entries that are not named tensors ({bad[:5]}){hint}")
    return dict(obj)
