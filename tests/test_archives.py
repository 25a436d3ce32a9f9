"""Archive reading: hostile members are refused, damage is reported, good archives stream in order."""

from __future__ import annotations

import gzip
import io
import random
import stat
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from svhn_api.data import archives
from svhn_api.data.archives import (
    ArchiveIndex,
    archive_index,
    check_member,
    iter_images,
    list_members,
    read_image,
    read_member,
    safe_extract,
    unpacked,
)
from svhn_api.errors import ArchiveError

_RNG = random.Random(0)
PNGS = {f"{i}.png": b"\x89PNG\r\n\x1a\n" + _RNG.randbytes(2000 + i) for i in (1, 2, 10, 3)}
MAT = b"MATLAB 7.3 MAT-file" + _RNG.randbytes(500)


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, b""


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _good_members() -> list[tuple[tarfile.TarInfo, bytes]]:
    folder = tarfile.TarInfo("train")
    folder.type = tarfile.DIRTYPE
    folder.mode = 0o755
    return [
        (folder, b""),
        *(_file(f"train/{name}", data) for name, data in PNGS.items()),
        _file("train/digitStruct.mat", MAT),
        _file("train/see_bboxes.m", b"% matlab"),
    ]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return _write(tmp_path / "train.tar.gz", _good_members())


def test_good_archive_yields_pngs_in_archive_order(good: Path) -> None:
    assert list(iter_images(good)) == list(PNGS.items())


def test_read_member_and_list_members(good: Path) -> None:
    assert read_member(good) == MAT
    assert read_member(good, "see_bboxes.m") == b"% matlab"
    assert list_members(good)[:2] == ["train", "train/1.png"]
    with pytest.raises(ArchiveError, match="no member named 'nothing.mat'") as err:
        read_member(good, "nothing.mat")
    assert str(good) in str(err.value)


def _unpack(archive: Path, dest: Path) -> None:
    with unpacked(archive, dest):
        pass


def test_unpacked_reads_members_by_offset_then_cleans_up(good: Path, tmp_path: Path) -> None:
    dest = tmp_path / "u.tar"
    seen: list[int] = []
    with unpacked(good, dest, on_bytes=seen.append) as tar:
        assert dest.is_file() and sum(seen) == good.stat().st_size
        assert [m.name for m in tar.images()] == [f"train/{n}" for n in PNGS]
        assert [tar.read(m) for m in tar.images()] == list(PNGS.values())
        assert tar.read(tar.member("digitStruct.mat")) == MAT
        with pytest.raises(ArchiveError, match="no member named 'nothing.mat'"):
            tar.member("nothing.mat")
        with pytest.raises(ArchiveError, match="more than the 10 allowed"):
            tar.member("digitStruct.mat", max_bytes=10)
    assert not dest.exists()
    with pytest.raises(ArchiveError, match="'train/1.png' is 2009 bytes, more than the 100 allowed"):
        with unpacked(good, dest, max_image_bytes=100):
            pass
    assert not dest.exists()


def test_unpacked_refuses_a_decompression_bomb(tmp_path: Path) -> None:
    bomb = _write(tmp_path / "bomb.tar.gz", [_file("train/1.png", bytes(40 << 20))])   # 40 MB of zeros
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ArchiveError, match="inflates to more than") as err:
        _unpack(bomb, tmp_path / "u.tar")
    assert str(bomb) in str(err.value)
    assert not (tmp_path / "u.tar").exists()


def test_unpacked_reads_a_multi_member_gzip_file(good: Path, tmp_path: Path) -> None:
    twice = tmp_path / "twice.tar.gz"
    raw = good.read_bytes()
    with gzip.open(good) as g:
        plain = g.read()
    # the same tar split over two gzip members, as `cat a.gz b.gz` makes
    twice.write_bytes(gzip.compress(plain[:5000]) + gzip.compress(plain[5000:]))
    assert twice.read_bytes() != raw
    with unpacked(twice, tmp_path / "u.tar") as tar:
        assert [tar.read(m) for m in tar.images()] == list(PNGS.values())


def test_safe_extract_good_archive(good: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    written = safe_extract(good, dest)
    assert [p.name for p in written] == [*PNGS, "digitStruct.mat", "see_bboxes.m"]
    assert (dest / "train" / "10.png").read_bytes() == PNGS["10.png"]


HOSTILE: dict[str, Callable[[], tuple[tarfile.TarInfo, bytes]]] = {
    "absolute": lambda: _file("/tmp/evil.png", b"evil"),
    "dotdot": lambda: _file("../evil.png", b"evil"),
    "nested-dotdot": lambda: _file("train/../../evil.png", b"evil"),
    "symlink": lambda: _special("train/link.png", tarfile.SYMTYPE, "/etc/passwd"),
    "hardlink": lambda: _special("train/hard.png", tarfile.LNKTYPE, "train/1.png"),
    "chardev": lambda: _special("train/null", tarfile.CHRTYPE),
    "blockdev": lambda: _special("train/sda", tarfile.BLKTYPE),
    "fifo": lambda: _special("train/pipe", tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_member_is_refused(kind: str, tmp_path: Path) -> None:
    evil = HOSTILE[kind]()
    good = _good_members()
    # The hostile member comes after a harmless one, before digitStruct.mat.
    archive = _write(tmp_path / "evil.tar.gz", [*good[:2], evil, *good[2:]])
    readers = {
        "iter_images": lambda: list(iter_images(archive)),
        "read_member": lambda: read_member(archive),
        "list_members": lambda: list_members(archive),
        "safe_extract": lambda: safe_extract(archive, tmp_path / "dest"),
        "unpacked": lambda: _unpack(archive, tmp_path / "unpacked.tar"),
    }
    before = sorted(p.name for p in tmp_path.iterdir())
    for reader, call in readers.items():
        with pytest.raises(ArchiveError) as err:
            call()
        msg = str(err.value)
        assert str(archive) in msg and repr(evil[0].name) in msg, reader
        assert "delete it" in msg, reader
    # Nothing was extracted: not the harmless member before it, not the hostile one anywhere.
    assert not any((tmp_path / "dest").rglob("*"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "dest") == before
    assert not (tmp_path.parent / "evil.png").exists()


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink", "chardev"])
def test_safe_extract_second_line_of_defence(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "check_member", lambda member, archive: None)  # first line down
    archive = _write(tmp_path / "evil.tar.gz", [HOSTILE[kind]()])
    with pytest.raises(ArchiveError, match="refusing member"):
        safe_extract(archive, tmp_path / "dest")
    assert not any((tmp_path / "dest").rglob("*"))
    assert not (tmp_path.parent / "evil.png").exists()


def without_tarfile_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    """tarfile as Python 3.11.2 (Debian 12's) has it: no extraction filters, no ``filter=`` argument."""
    for name in ("data_filter", "FilterError"):   # (what tarfile itself calls stays)
        monkeypatch.delattr(tarfile, name, raising=False)
    extract = tarfile.TarFile.extract

    def old_extract(self: tarfile.TarFile, member: tarfile.TarInfo, path: str = "", set_attrs: bool = True, *,
                    numeric_owner: bool = False, **kwargs: object) -> None:
        if kwargs:
            raise TypeError(f"TarFile.extract() got an unexpected keyword argument {next(iter(kwargs))!r}")
        extract(self, member, path, set_attrs, numeric_owner=numeric_owner)

    monkeypatch.setattr(tarfile.TarFile, "extract", old_extract)


@pytest.mark.parametrize("filters", ["with tarfile's filters", "without (Python 3.11.2)"])
def test_safe_extract_on_a_python_with_or_without_tarfile_filters(
        filters: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if filters.startswith("without"):
        without_tarfile_filters(monkeypatch)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip(f"this Python ({sys.version.split()[0]}) has no tarfile filters")
    setuid = _file("train/run.sh", b"#!/bin/sh\n")
    setuid[0].mode = 0o4777
    good = _write(tmp_path / "good.tar.gz", [*_good_members(), setuid])
    written = safe_extract(good, tmp_path / "out")
    assert [p.name for p in written] == [*PNGS, "digitStruct.mat", "see_bboxes.m", "run.sh"]
    assert (tmp_path / "out" / "train" / "10.png").read_bytes() == PNGS["10.png"]
    mode = (tmp_path / "out" / "train" / "run.sh").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_IWOTH), oct(mode)   # no mode bits of the archive's choosing
    # the second line of defence holds with the first one down, filter or none
    monkeypatch.setattr(archives, "check_member", lambda member, archive: None)
    for kind in ("absolute", "dotdot", "symlink", "hardlink", "chardev", "fifo"):
        archive = _write(tmp_path / f"{kind}.tar.gz", [HOSTILE[kind]()])
        with pytest.raises(ArchiveError, match="refusing member") as err:
            safe_extract(archive, tmp_path / kind)
        assert str(archive) in str(err.value) and "delete it" in str(err.value), kind
        assert not any((tmp_path / kind).rglob("*")), kind
    assert not (tmp_path.parent / "evil.png").exists()


def test_check_member_accepts_files_and_folders(tmp_path: Path) -> None:
    folder = tarfile.TarInfo("train/")
    folder.type = tarfile.DIRTYPE
    check_member(folder, tmp_path / "a.tar.gz")
    check_member(_file("train/1.png", b"x")[0], tmp_path / "a.tar.gz")
    with pytest.raises(ArchiveError, match="absolute"):
        check_member(_file("C:/evil.png", b"x")[0], tmp_path / "a.tar.gz")


@pytest.mark.parametrize("keep", [0.5, 0.9, -4, -30])
def test_truncated_archive_is_reported(good: Path, tmp_path: Path, keep: float) -> None:
    raw = good.read_bytes()
    cut = int(len(raw) * keep) if keep > 0 else len(raw) + int(keep)
    broken = tmp_path / "cut.tar.gz"
    broken.write_bytes(raw[:cut])
    for call in (lambda: list(iter_images(broken)), lambda: list_members(broken),
                 lambda: _unpack(broken, tmp_path / "unpacked.tar")):
        with pytest.raises(ArchiveError, match="corrupt or truncated") as err:
            call()
        assert str(broken) in str(err.value) and "run prepare again" in str(err.value)
    assert not (tmp_path / "unpacked.tar").exists()


def test_every_cut_point_is_caught(tmp_path: Path) -> None:
    raw = _write(tmp_path / "small.tar.gz", [_file("a/1.png", b"one"), _file("a/2.png", b"two")]).read_bytes()
    broken = tmp_path / "cut.tar.gz"
    for cut in range(1, len(raw)):
        broken.write_bytes(raw[:cut])
        with pytest.raises(ArchiveError, match="corrupt or truncated"):
            list(iter_images(broken))


def test_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        list(iter_images(junk))
    with pytest.raises(ArchiveError, match="not found"):
        list(iter_images(tmp_path / "missing.tar.gz"))


def test_absurd_member_size_is_refused(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ArchiveError, match="'train/1.png' is 2009 bytes, more than the 100 allowed"):
        list(iter_images(good, max_image_bytes=100))
    with pytest.raises(ArchiveError, match="more than the 10 allowed"):
        read_member(good, max_bytes=10)
    assert archives.MAX_IMAGE_BYTES == 64 << 20


def test_archive_index_reads_every_image_across_restart_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "_SPAN", 8_000)
    monkeypatch.setattr(archives, "_CHUNK", 4096)
    rng = random.Random(1)
    items = [_file(f"test/{i}.png", b"\x89PNG" + rng.randbytes(3000 + i)) for i in range(1, 13)]
    items.insert(3, _file("test/digitStruct.mat", bytes(5000)))
    archive = _write(tmp_path / "test.tar.gz", items)
    index = ArchiveIndex(archive)
    assert len(index) == 12 and len(index.points) > 3 and "7.png" in index
    for info, data in items:
        if info.name.endswith(".png"):
            assert index.read(info.name.split("/")[-1]) == data
    assert read_image(archive, "12.png") == items[-1][1]
    assert archive_index(archive) is archive_index(archive)  # built once
    with pytest.raises(ArchiveError, match="no image named '99.png'"):
        index.read("99.png")


def test_archive_index_refuses_an_oversized_image(good: Path) -> None:
    with pytest.raises(ArchiveError, match="'train/1.png' is 2009 bytes, more than the 100 allowed"):
        ArchiveIndex(good, max_image_bytes=100)
    assert len(ArchiveIndex(good)) == len(PNGS)


def test_archive_index_refuses_a_member_claiming_more_than_max_image_bytes(tmp_path: Path) -> None:
    # A header that claims a huge size, followed by a tar cut short: refused before anything is read.
    info = tarfile.TarInfo("train/huge.png")
    info.size = archives.MAX_IMAGE_BYTES + 1
    path = tmp_path / "huge.tar.gz"
    import gzip

    path.write_bytes(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(512)))
    with pytest.raises(ArchiveError, match="more than the 67108864 allowed for one image"):
        ArchiveIndex(path)


@pytest.mark.parametrize("kind", ["dotdot", "symlink", "absolute"])
def test_archive_index_refuses_hostile_members(kind: str, tmp_path: Path) -> None:
    archive = _write(tmp_path / "evil.tar.gz", [*_good_members()[:2], HOSTILE[kind]()])
    with pytest.raises(ArchiveError, match="refusing member"):
        ArchiveIndex(archive)


@pytest.mark.parametrize("keep", [0.5, -4, -30])
def test_archive_index_reports_a_truncated_archive(good: Path, tmp_path: Path, keep: float) -> None:
    raw = good.read_bytes()
    broken = tmp_path / "cut.tar.gz"
    broken.write_bytes(raw[:int(len(raw) * keep) if keep > 0 else len(raw) + int(keep)])
    with pytest.raises(ArchiveError, match="corrupt or truncated") as err:
        ArchiveIndex(broken)
    assert str(broken) in str(err.value)
    with pytest.raises(ArchiveError, match="not found"):
        archive_index(tmp_path / "missing.tar.gz")
