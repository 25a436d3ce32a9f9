"""Read SVHN ``.tar.gz`` archives safely, in one sequential pass, without extracting them to disk.

Every member is checked before it is used: only regular files and directories with relative paths
that stay inside the archive are accepted, and no image over ``MAX_IMAGE_BYTES``. A truncated or corrupt
archive is an ``ArchiveError`` naming the file, including a cut that falls between two members (the gzip
stream is read to its end). ``ArchiveIndex`` adds random access to one photo after a single indexing pass;
``unpacked`` decompresses an archive once into a plain tar file (nothing is extracted), whose members any
process can then read with a seek.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from svhn_api.errors import ArchiveError

MAX_IMAGE_BYTES = 64 << 20  # no SVHN photo comes near this; bigger means a broken or hostile archive
MAX_MEMBER_BYTES = 1 << 30  # for read_member (the extra split's digitStruct.mat is far below this)

_SPILL_CHUNK, _INFLATE_STEP = 1 << 20, 8 << 20   # unpacked: bytes read, most bytes inflated, at a time
_MAX_RATIO, _SLACK = 20, 16 << 20  # unpacked: the most an archive may inflate to
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
FIX = "delete it and run prepare again to re-download it (or regenerate synthetic archives)"
OWN_FIX = ("rebuild it or copy it again from where it came from (prepare --no-verify never downloads), then run "
           "prepare again")


def check_member(tarinfo: tarfile.TarInfo, archive: str | os.PathLike[str]) -> None:
    """Raise ``ArchiveError`` unless ``tarinfo`` is a regular file or directory with a safe relative path."""
    name = tarinfo.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        why = "has an absolute path"
    elif ".." in parts:
        why = "has a '..' path component (it would be written outside the destination)"
    elif tarinfo.issym() or tarinfo.islnk():
        why = f"is a {'symbolic' if tarinfo.issym() else 'hard'} link (to {tarinfo.linkname!r})"
    elif tarinfo.ischr() or tarinfo.isblk():
        why = "is a device file"
    elif tarinfo.isfifo():
        why = "is a named pipe (fifo)"
    elif not (tarinfo.isreg() or tarinfo.isdir()):
        why = f"has an unsupported type {tarinfo.type!r}"
    elif not name.strip("/"):
        why = "has an empty name"
    else:
        return
    raise ArchiveError(
        f"{archive}: refusing member {name!r}: it {why}. SVHN archives hold only plain files and folders, "
        f"so this archive is not an intact SVHN archive; {FIX}."
    )


def for_own_archive(error: ArchiveError) -> ArchiveError:
    """``error`` about a user's own archive (``prepare --no-verify``): its fix says to rebuild or re-copy the
    archive, not to download one."""
    return ArchiveError(str(error).replace(FIX, OWN_FIX))


def read_member(
    archive: str | os.PathLike[str], basename: str = "digitStruct.mat", *, max_bytes: int = MAX_MEMBER_BYTES
) -> bytes:
    """Bytes of the first regular member named ``basename`` (in any folder), checking each member passed."""
    with _open(archive) as (tar, _):
        for member in _members(archive, tar, None):
            if member.isreg() and PurePosixPath(member.name).name == basename:
                _check_member_size(archive, member.name, member.size, max_bytes)
                return _read(archive, tar, member)
    raise _no_member(archive, basename)


def iter_images(
    archive: str | os.PathLike[str], *, max_image_bytes: int = MAX_IMAGE_BYTES, full_names: bool = False,
    suffixes: tuple[str, ...] = (".png",),
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(basename, bytes)`` for every member ending in ``suffixes`` (lower case; default ``*.png``), in
    archive order, in one streaming pass; ``full_names``: the member's path in the archive, not its basename."""
    with _open(archive) as (tar, gz):
        for member in _members(archive, tar, gz):
            if not (member.isreg() and member.name.lower().endswith(suffixes)):
                continue
            _check_image_size(archive, member, max_image_bytes)
            yield (member.name if full_names else PurePosixPath(member.name).name), _read(archive, tar, member)


def list_members(archive: str | os.PathLike[str]) -> list[str]:
    """Names of all members (files and folders), after checking every one of them."""
    with _open(archive) as (tar, gz):
        return [member.name for member in _members(archive, tar, gz)]


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> list[Path]:
    """Extract into ``dest`` after checking every member; returns the regular files written.

    Nothing is written unless the whole archive passes ``check_member``. A second line of defence holds on
    every Python: each member is extracted only as a plain file or folder inside ``dest``, without the
    archive's owners or mode bits; tarfile's ``"data"`` filter is applied on top where this Python has it
    (3.11.4 and later: ``tarfile.data_filter``; Debian 12's 3.11.2 has none).
    """
    list_members(archive)  # first pass: refuse the archive before anything is written
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    has_filter = hasattr(tarfile, "data_filter")
    filter_error = getattr(tarfile, "FilterError", ())  # where there is no filter: (), which catches nothing
    written: list[Path] = []
    with _open(archive) as (tar, gz):
        for member in _members(archive, tar, gz):
            target = (root / member.name).resolve()
            if target != root and root not in target.parents:
                raise ArchiveError(f"{archive}: refusing member {member.name!r}: it leaves {root}. {FIX}.")
            if not (member.isreg() or member.isdir()):
                raise ArchiveError(f"{archive}: refusing member {member.name!r}: it is not a plain file or folder "
                                   f"(tar type {member.type!r}). {FIX}.")
            try:
                if has_filter:
                    tar.extract(member, root, filter="data")
                else:  # no owners, no mode bits from the archive: what the "data" filter would leave
                    tar.extract(member, root, set_attrs=False)
            except filter_error as e:
                raise ArchiveError(f"{archive}: refusing member {member.name!r}: {e}. {FIX}.") from None
            except _CORRUPT as e:
                raise _corrupt(archive, e) from None
            except OSError as e:
                raise ArchiveError(f"{archive}: cannot extract {member.name!r} into {root}: {e}.") from None
            if member.isreg():
                written.append(target)
    return written


# ------------------------------------------------------------------------------------------ unpacked once
@dataclass(frozen=True)
class Member:
    """A regular file of an unpacked archive: its path in the archive and where its bytes lie in the tar."""

    name: str
    offset: int
    size: int


@dataclass(frozen=True)
class Unpacked:
    """An archive decompressed once into a plain tar file (``tar``), with its checked regular members in
    archive order. Any process that can open ``tar`` reads a member with one seek (``read_at``), so the
    reading of many members can be shared out without sending their bytes."""

    archive: Path
    tar: Path
    members: tuple[Member, ...]

    def images(self, suffixes: tuple[str, ...] = (".png",)) -> list[Member]:
        return [m for m in self.members if m.name.lower().endswith(suffixes)]

    def member(self, basename: str, max_bytes: int = MAX_MEMBER_BYTES) -> Member:
        """The first member named ``basename`` (in any folder); the same errors as ``read_member``."""
        for m in self.members:
            if PurePosixPath(m.name).name == basename:
                _check_member_size(self.archive, m.name, m.size, max_bytes)
                return m
        raise _no_member(self.archive, basename)

    def read(self, member: Member) -> bytes:
        return read_at(self.tar, member.offset, member.size)


def read_at(tar: str | os.PathLike[str], offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset`` of a plain file (a member of an ``Unpacked`` tar)."""
    with open(tar, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        raise ArchiveError(f"{tar}: {len(data)} of {size} bytes at offset {offset}: the unpacked archive was "
                           "changed while in use; run prepare again.")
    return data


@contextmanager
def unpacked(archive: str | os.PathLike[str], dest: str | os.PathLike[str], *,
             max_image_bytes: int = MAX_IMAGE_BYTES, on_bytes: Any = None) -> Iterator[Unpacked]:
    """``archive`` decompressed into the plain tar file ``dest`` (about the archive's size on disk: PNGs do not
    compress) for the duration of the block, then deleted. One pass of the gzip stream, read to its end
    (a cut file is an ``ArchiveError``); then every member is checked as in a streaming read (``check_member``,
    no image over ``max_image_bytes``) before anything is yielded. ``on_bytes(n)``: ``n`` more compressed
    bytes read, for a progress bar."""
    path, dest = _existing(archive), Path(dest)
    try:
        _gunzip(path, dest, on_bytes)
        members = []
        try:
            with tarfile.open(dest, "r:") as tar:
                for m in _members(path, tar, None):
                    if m.isreg():
                        if _is_image(m):
                            _check_image_size(path, m, max_image_bytes)
                        members.append(Member(m.name, m.offset_data, m.size))
        except _CORRUPT as e:
            raise _corrupt(path, e) from None
        yield Unpacked(path, dest, tuple(members))
    finally:
        dest.unlink(missing_ok=True)


def _gunzip(path: Path, dest: Path, on_bytes: Any) -> None:
    """The gzip stream of ``path`` (one member or several) inflated into ``dest``, at most ``_INFLATE_STEP``
    bytes at a time and no more than ``_MAX_RATIO`` times the archive's size in all (plus some slack for the
    tar's padding), so a decompression bomb fills neither the memory nor the disk."""
    limit = _MAX_RATIO * path.stat().st_size + _SLACK
    written = 0
    with open(path, "rb") as raw, open(dest, "wb") as out:
        d = zlib.decompressobj(31)
        try:
            while chunk := raw.read(_SPILL_CHUNK):
                pending = chunk
                while pending:
                    data = d.decompress(pending, _INFLATE_STEP)
                    pending = d.unconsumed_tail
                    if d.eof and d.unused_data:             # the next member of a multi-member gzip file
                        pending, d = d.unused_data, zlib.decompressobj(31)
                    written += len(data)
                    if written > limit:
                        raise ArchiveError(
                            f"{path}: it inflates to more than {limit:,} bytes, {_MAX_RATIO}x its size; an SVHN "
                            f"archive (PNG photos) inflates to about its own size, so this is not one; {FIX}.")
                    out.write(data)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        except zlib.error as e:
            raise _corrupt(path, e) from None
        except OSError as e:
            raise ArchiveError(f"{path}: cannot unpack it to {dest} ({e}); it needs about "
                               f"{path.stat().st_size:,} bytes free there: free some space, or set $SVHN_DATA "
                               "to a disk with room.") from None
        if not d.eof:
            raise _corrupt(path, EOFError("compressed file ended before the end-of-stream marker was reached"))


# ------------------------------------------------------------------------------------------ random access

_SPAN = 8 << 20  # uncompressed bytes between two restart points of the gzip stream
_CHUNK = 1 << 16


class _Recorder(io.RawIOBase):
    """A gzip file decompressed for tarfile's streaming reader, remembering restart points on the way:
    ``(compressed offset, uncompressed offset, copy of the decompressor there)``."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.d = raw, zlib.decompressobj(31)
        self.buf, self.in_pos, self.out_pos = b"", 0, 0
        self.points: list[tuple[int, int, Any]] = [(0, 0, self.d.copy())]

    def readable(self) -> bool:
        return True

    def _more(self) -> bool:
        chunk = self.raw.read(_CHUNK)
        if not chunk:
            if not self.d.eof:  # the gzip stream stops before its end marker: a cut file
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            return False
        self.in_pos += len(chunk)
        self.d, data = _decompress(self.d, chunk)
        self.out_pos += len(data)
        self.buf += data
        if not self.d.eof and self.out_pos - self.points[-1][1] >= _SPAN:
            self.points.append((self.in_pos, self.out_pos, self.d.copy()))
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf and self._more():
            pass
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


def _decompress(d: Any, chunk: bytes) -> tuple[Any, bytes]:
    """``chunk`` decompressed with ``d``, moving on to the next member of a multi-member gzip file; returns
    the decompressor to use next."""
    data = d.decompress(chunk)
    while d.eof and d.unused_data:
        rest = d.unused_data
        d = zlib.decompressobj(31)
        data += d.decompress(rest)
    return d, data


class ArchiveIndex:
    """Random access to the PNGs of a ``.tar.gz`` archive without extracting it.

    Built in one checked pass (``check_member`` on every member, no image over ``max_image_bytes``, the
    gzip stream read to its end): each image's offset in the uncompressed tar, and a restart point of the
    gzip stream every 8 MB, so reading one photo decompresses at most 8 MB plus the photo.
    """

    def __init__(self, archive: str | os.PathLike[str], *, max_image_bytes: int = MAX_IMAGE_BYTES) -> None:
        self.path = _existing(archive)
        self.members: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        with open(self.path, "rb") as raw:
            rec = _Recorder(raw)
            stream = io.BufferedReader(rec, _CHUNK)
            try:
                tar = tarfile.open(fileobj=stream, mode="r|")
            except _CORRUPT as e:
                raise _corrupt(self.path, e) from None
            with tar:
                for member in _members(self.path, tar, stream):
                    if _is_image(member):
                        _check_image_size(self.path, member, max_image_bytes)
                        self.members.setdefault(PurePosixPath(member.name).name, (member.offset_data, member.size))
        self.points = rec.points

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, basename: object) -> bool:
        return basename in self.members

    def read(self, basename: str) -> bytes:
        """The bytes of image ``basename`` (e.g. ``"17.png"``)."""
        if basename not in self.members:
            raise ArchiveError(f"{self.path}: no image named {basename!r} in this archive")
        offset, size = self.members[basename]
        in_pos, out_pos, state = max((p for p in self.points if p[1] <= offset), key=lambda p: p[1])
        d = state.copy()
        got = bytearray()
        try:
            with self._lock, open(self.path, "rb") as raw:
                raw.seek(in_pos)
                while out_pos + len(got) < offset + size:
                    chunk = raw.read(_CHUNK)
                    if not chunk:
                        raise EOFError(f"{basename}: the file ends inside this image")
                    d, data = _decompress(d, chunk)
                    got += data
                    # keep only what may still be needed, so reading late in a member stays flat in memory
                    drop = min(len(got), max(0, offset - out_pos))
                    if drop:
                        del got[:drop]
                        out_pos += drop
        except (EOFError, zlib.error) as e:
            raise _corrupt(self.path, e) from None
        start = offset - out_pos
        return bytes(got[start:start + size])


@lru_cache(maxsize=4)
def _index(path: str, mtime_ns: int, size: int) -> ArchiveIndex:
    return ArchiveIndex(path)


def archive_index(archive: str | os.PathLike[str]) -> ArchiveIndex:
    """The index of ``archive``, built once per process (and again when the file changes)."""
    p = _existing(archive)
    st = p.stat()
    return _index(str(p.resolve()), st.st_mtime_ns, st.st_size)


def read_image(archive: str | os.PathLike[str], basename: str) -> bytes:
    """The bytes of image ``basename`` of ``archive`` (through its cached index)."""
    return archive_index(archive).read(basename)


# ------------------------------------------------------------------------------------------ helpers


def _is_image(member: tarfile.TarInfo) -> bool:
    return member.isreg() and member.name.lower().endswith(".png")


def _existing(archive: str | os.PathLike[str]) -> Path:
    path = Path(archive)
    if not path.is_file():
        raise ArchiveError(f"{path}: archive not found. Fix: run prepare to download it, or check the path.")
    return path


def _check_member_size(archive: str | os.PathLike[str], name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ArchiveError(f"{archive}: member {name!r} claims {size} bytes, more than the {max_bytes} allowed: "
                           f"the archive is damaged or not an SVHN archive; {FIX}.")


def _no_member(archive: str | os.PathLike[str], basename: str) -> ArchiveError:
    return ArchiveError(f"{archive}: no member named {basename!r}. This is not a complete SVHN archive "
                        f"(each split's archive holds <split>/{basename}); {FIX}.")


def _check_image_size(archive: str | os.PathLike[str], member: tarfile.TarInfo, max_image_bytes: int) -> None:
    if member.size > max_image_bytes:
        raise ArchiveError(
            f"{archive}: image {member.name!r} is {member.size} bytes, more than the "
            f"{max_image_bytes} allowed for one image: the archive is damaged or not an SVHN "
            f"archive; {FIX}."
        )



@contextmanager
def _open(archive: str | os.PathLike[str]) -> Iterator[tuple[tarfile.TarFile, gzip.GzipFile]]:
    """A sequential tar reader over our own gzip stream (so a cut gzip stream can be noticed)."""
    path = _existing(archive)
    with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        try:
            tar = tarfile.open(fileobj=gz, mode="r|")
        except _CORRUPT as e:
            raise _corrupt(path, e) from None
        with tar:
            yield tar, gz


def _members(
    archive: str | os.PathLike[str], tar: tarfile.TarFile, gz: io.BufferedIOBase | None
) -> Iterator[tarfile.TarInfo]:
    """Checked members in order; with ``gz``, reads the gzip stream to its end after the last one."""
    while True:
        try:
            member = tar.next()
        except _CORRUPT as e:
            raise _corrupt(archive, e) from None
        if member is None:
            break
        tar.members = []  # type: ignore[attr-defined]  # a streaming pass needs no index: memory stays flat
        check_member(member, archive)
        yield member
    if gz is not None:
        # tarfile stops quietly when a cut falls exactly between members; the gzip trailer does not.
        try:
            while gz.read(1 << 20):
                pass
        except _CORRUPT as e:
            raise _corrupt(archive, e) from None


def _read(archive: str | os.PathLike[str], tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    try:
        f = tar.extractfile(member)
        data = f.read() if f is not None else b""
    except _CORRUPT as e:
        raise _corrupt(archive, e) from None
    if len(data) != member.size:
        raise _corrupt(archive, EOFError(f"{member.name}: {len(data)} of {member.size} bytes"))
    return data


def _corrupt(archive: str | os.PathLike[str], error: BaseException) -> ArchiveError:
    return ArchiveError(f"{archive}: corrupt or truncated ({type(error).__name__}: {error}): {FIX}.")
