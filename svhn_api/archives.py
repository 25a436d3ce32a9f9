"""Read SVHN ``.tar.gz`` archives safely, in one sequential pass, without extracting them to disk.

Every member is checked before it is used: only regular files and directories with relative paths
that stay inside the archive are accepted. A truncated or corrupt archive is an ``ArchiveError``
naming the file, including a cut that falls between two members (the gzip stream is read to its end).
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from svhn_api.errors import ArchiveError

MAX_IMAGE_BYTES = 64 << 20  # no SVHN photo comes near this; bigger means a broken or hostile archive
MAX_MEMBER_BYTES = 1 << 30  # for read_member (the extra split's digitStruct.mat is far below this)

_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
_FIX = "delete it and run prepare again to re-download it (or regenerate synthetic archives)"


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
        f"so this archive is not an intact SVHN archive: delete it and download or regenerate it."
    )


def read_member(
    archive: str | os.PathLike[str], basename: str = "digitStruct.mat", *, max_bytes: int = MAX_MEMBER_BYTES
) -> bytes:
    """Bytes of the first regular member named ``basename`` (in any folder), checking each member passed."""
    with _open(archive) as (tar, _):
        for member in _members(archive, tar, None):
            if member.isreg() and PurePosixPath(member.name).name == basename:
                if member.size > max_bytes:
                    raise ArchiveError(
                        f"{archive}: member {member.name!r} claims {member.size} bytes, more than the "
                        f"{max_bytes} allowed: the archive is damaged or not an SVHN archive; {_FIX}."
                    )
                return _read(archive, tar, member)
    raise ArchiveError(
        f"{archive}: no member named {basename!r}. This is not a complete SVHN archive "
        f"(each split's archive holds <split>/{basename}); {_FIX}."
    )


def iter_images(
    archive: str | os.PathLike[str], *, max_image_bytes: int = MAX_IMAGE_BYTES
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(basename, png_bytes)`` for every ``*.png`` member, in archive order, in one streaming pass."""
    with _open(archive) as (tar, gz):
        for member in _members(archive, tar, gz):
            if not (member.isreg() and member.name.lower().endswith(".png")):
                continue
            if member.size > max_image_bytes:
                raise ArchiveError(
                    f"{archive}: image {member.name!r} is {member.size} bytes, more than the "
                    f"{max_image_bytes} allowed for one image: the archive is damaged or not an SVHN "
                    f"archive; {_FIX}."
                )
            yield PurePosixPath(member.name).name, _read(archive, tar, member)


def list_members(archive: str | os.PathLike[str]) -> list[str]:
    """Names of all members (files and folders), after checking every one of them."""
    with _open(archive) as (tar, gz):
        return [member.name for member in _members(archive, tar, gz)]


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> list[Path]:
    """Extract into ``dest`` after checking every member; returns the regular files written.

    Nothing is written unless the whole archive passes ``check_member``; tarfile's ``"data"`` filter
    is applied on top as a second line of defence.
    """
    list_members(archive)  # first pass: refuse the archive before anything is written
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written: list[Path] = []
    with _open(archive) as (tar, gz):
        for member in _members(archive, tar, gz):
            target = (root / member.name).resolve()
            if target != root and root not in target.parents:
                raise ArchiveError(f"{archive}: refusing member {member.name!r}: it leaves {root}. {_FIX}.")
            try:
                tar.extract(member, root, filter="data")
            except tarfile.FilterError as e:
                raise ArchiveError(f"{archive}: refusing member {member.name!r}: {e}. {_FIX}.") from None
            except _CORRUPT as e:
                raise _corrupt(archive, e) from None
            except OSError as e:
                raise ArchiveError(f"{archive}: cannot extract {member.name!r} into {root}: {e}.") from None
            if member.isreg():
                written.append(target)
    return written


# ------------------------------------------------------------------------------------------ helpers


@contextmanager
def _open(archive: str | os.PathLike[str]) -> Iterator[tuple[tarfile.TarFile, gzip.GzipFile]]:
    """A sequential tar reader over our own gzip stream (so a cut gzip stream can be noticed)."""
    path = Path(archive)
    if not path.is_file():
        raise ArchiveError(f"{path}: archive not found. Fix: run prepare to download it, or check the path.")
    with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        try:
            tar = tarfile.open(fileobj=gz, mode="r|")
        except _CORRUPT as e:
            raise _corrupt(path, e) from None
        with tar:
            yield tar, gz


def _members(
    archive: str | os.PathLike[str], tar: tarfile.TarFile, gz: gzip.GzipFile | None
) -> Iterator[tarfile.TarInfo]:
    """Checked members in order; with ``gz``, reads the gzip stream to its end after the last one."""
    while True:
        try:
            member = tar.next()
        except _CORRUPT as e:
            raise _corrupt(archive, e) from None
        if member is None:
            break
        tar.members = []  # a streaming pass needs no index: keep memory flat on 200k-member archives
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
    return ArchiveError(f"{archive}: corrupt or truncated ({type(error).__name__}: {error}): {_FIX}.")
