"""A user's own archives in the official layout (e.g. a subset of real photos): ``prepare(verify=False)``
and ``prepare --no-verify`` skip the official size/MD5 check but still check every member, and the store
says that its source is unverified."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from svhn_api import cli
from svhn_api.data import download
from svhn_api.data.archive_writer import write_archive
from svhn_api.data.download import file_md5, write_manifest
from svhn_api.data.prepare import prepare
from svhn_api.data.store import inspect, read
from svhn_api.errors import ArchiveError
from svhn_api.labels import boxes_to_row
from svhn_api.models.provenance import data_facts, data_kind
from tests.conftest import draw_number, random_numbers

N_PHOTOS = 12


def own_archive(folder: Path, split: str = "train", n: int = N_PHOTOS, seed: int = 3) -> dict[str, list]:
    """``folder/<split>.tar.gz`` in the official layout, of drawn numbers, with no manifest: as a user would
    write their own photos. Returns {filename: boxes}."""
    rng = np.random.default_rng(seed)
    items = []
    for i, number in enumerate(random_numbers(n, rng)):
        img, boxes = draw_number(number, rng)
        items.append((f"{i + 1}.png", img, boxes))
    folder.mkdir(parents=True, exist_ok=True)
    write_archive(folder / f"{split}.tar.gz", split, items)
    return {name: boxes for name, _, boxes in items}


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list]]:
    folder = tmp_path_factory.mktemp("own")
    return folder, own_archive(folder)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download")

    monkeypatch.setattr(download, "_fetch", refuse)


def test_own_archive_is_prepared_without_verification(own, tmp_path, no_network):
    folder, truth = own
    md5 = file_md5(folder / "train.tar.gz")
    s = prepare(folder, splits=("train",), out=tmp_path / "own.h5", jobs=1, validation_size=2, progress=False,
                verify=False)
    assert s.verified is False and s.archives == {"train": md5} and not s.left_out
    assert s.counts == {"train": N_PHOTOS - 1, "validation": 1, "test": 0}  # validation: at most a tenth
    info = inspect(s.path)
    assert info.attrs["source"] == "unverified" and info.attrs["verified"] is False
    assert info.attrs["archives"] == {"train": md5}  # what was actually read
    assert data_kind(info.attrs) == "unverified"  # neither "real" nor "synthetic"
    assert data_facts(s.path, checksum=False)["kind"] == "unverified"
    got = {}
    for split in ("train", "validation"):
        rows = read(s.path, split, fields=("labels", "filenames"))
        got.update(zip(rows["filenames"], rows["labels"], strict=True))
    assert sorted(got) == sorted(truth)
    for name, boxes in truth.items():
        np.testing.assert_array_equal(got[name], boxes_to_row(boxes))
    assert (folder / "train.tar.gz").is_file()  # nothing moved aside


def test_verified_store_says_so(tmp_path):
    folder = tmp_path / "manifest"
    own_archive(folder, n=4)
    write_manifest(folder, ["train"])  # a folder with a manifest keeps working as before
    s = prepare(folder, splits=("train",), out=tmp_path / "m.h5", jobs=1, progress=False, download=False)
    attrs = inspect(s.path).attrs
    assert s.verified is True and attrs["verified"] is True and attrs["source"] == "synthetic"
    assert data_kind(attrs) == "synthetic"


def test_own_archive_without_the_flag_names_it(own, tmp_path, no_network):
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copy(own[0] / "train.tar.gz", folder / "train.tar.gz")
    with pytest.raises(ArchiveError) as err:
        prepare(folder, splits=("train",), out=tmp_path / "x.h5", jobs=1, progress=False)
    msg = str(err.value)
    assert str(folder / "train.tar.gz") in msg and "fails its check" in msg
    assert "the official SVHN checksums" in msg
    assert "--no-verify" in msg and "verify=False" in msg
    assert not (tmp_path / "x.h5").exists()
    # As the message says: put it back and pass the flag.
    (bad,) = folder.glob("train.tar.gz.bad-*")
    assert str(bad) in msg
    bad.rename(folder / "train.tar.gz")
    s = prepare(folder, splits=("train",), out=tmp_path / "x.h5", jobs=1, progress=False, verify=False)
    assert sum(s.counts.values()) == N_PHOTOS


def test_missing_archive_without_verification_is_an_error_not_a_download(tmp_path, no_network):
    own_archive(tmp_path, split="train", n=2)
    with pytest.raises(ArchiveError) as err:
        prepare(tmp_path, splits=("train", "test"), out=tmp_path / "x.h5", progress=False, verify=False)
    msg = str(err.value)
    assert str(tmp_path / "test.tar.gz") in msg and "--no-verify" in msg
    assert str(tmp_path / "train.tar.gz") not in msg


def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, len(data)
    return info, data


HOSTILE = {
    "absolute": lambda: _tar_member("/tmp/evil.png", data=b"\x89PNG\r\n\x1a\nevil"),
    "dotdot": lambda: _tar_member("train/../../evil.png", data=b"\x89PNG\r\n\x1a\nevil"),
    "symlink": lambda: _tar_member("train/5.png", tarfile.SYMTYPE, linkname="/etc/passwd"),
    "hardlink": lambda: _tar_member("train/6.png", tarfile.LNKTYPE, linkname="train/1.png"),
    "device": lambda: _tar_member("train/null", tarfile.CHRTYPE),
}


def hostile_archive(good: Path, path: Path, evil: tuple, position: str) -> Path:
    """``good`` re-packed with ``evil`` among its images (before digitStruct.mat) or as its last member."""
    with tarfile.open(good, "r:gz") as src:
        members = [(m, src.extractfile(m).read() if m.isreg() else b"") for m in src.getmembers()]
    at = 3 if position == "among images" else len(members)
    members.insert(at, evil)
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


@pytest.mark.parametrize("position", ["among images", "last"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_archive_is_refused_even_without_verification(own, tmp_path, no_network, kind, position):
    folder = tmp_path / "evil"
    folder.mkdir()
    evil = HOSTILE[kind]()
    archive = hostile_archive(own[0] / "train.tar.gz", folder / "train.tar.gz", evil, position)
    out = tmp_path / "evil.h5"
    with pytest.raises(ArchiveError) as err:
        prepare(folder, splits=("train",), out=out, jobs=1, progress=False, verify=False)
    msg = str(err.value)
    assert str(archive) in msg and f"refusing member {evil[0].name!r}" in msg
    assert not out.exists() and not list(tmp_path.rglob("*.h5"))  # no store, no finished part
    assert not (tmp_path.parent / "evil.png").exists() and not Path("/tmp/evil.png").exists()
    assert archive.is_file()  # the user's file is left where it is


def test_cli_no_verify(own, tmp_path, capsys, no_network):
    folder, _ = own
    out = tmp_path / "cli.h5"
    argv = ["prepare", "--archives", str(folder), "--no-verify", "--splits", "train", "--out", str(out),
            "--jobs", "1"]
    assert cli.main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["verified"] is False and summary["path"] == str(out)
    assert sum(summary["counts"].values()) == N_PHOTOS
    assert inspect(out).attrs["source"] == "unverified"
    assert cli.main(argv) == 0
    assert "unverified" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["train.tar.gz"]   # nothing written beside the user's archive


def test_cli_without_no_verify_names_the_flag(own, tmp_path, capsys, no_network):
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copy(own[0] / "train.tar.gz", folder / "train.tar.gz")
    argv = ["prepare", "--archives", str(folder), "--splits", "train", "--out", str(tmp_path / "x.h5")]
    assert cli.main(argv) == 2
    assert "pass --no-verify" in capsys.readouterr().err


def test_cli_no_verify_prepares_the_archives_that_are_there_and_writes_nothing_beside_them(tmp_path, capsys,
                                                                                          no_network):
    """Only test.tar.gz: prepared as it is (no train/extra archive to ask for), said so, nothing written into the
    user's archive folder; asking for a split that is not there names the --splits that would work."""
    folder = tmp_path / "mine"
    own_archive(folder, split="test", n=4)
    out = tmp_path / "out" / "mine.h5"
    assert cli.main(["prepare", "--archives", str(folder), "--no-verify", "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"archives: test.tar.gz, the ones found in {folder} (--splits chooses)" in printed, printed
    assert "a store to evaluate models on, not to train them on" in printed
    assert inspect(out).counts == {"train": 0, "validation": 0, "test": 4}
    assert sorted(p.name for p in folder.iterdir()) == ["test.tar.gz"]   # no .verified.json
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine.h5"]
    argv = ["prepare", "--archives", str(folder), "--no-verify", "--splits", "train,test", "--out", str(out)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert str(folder / "train.tar.gz") in err and "pass --splits test (API: splits=('test',))" in err, err


def test_a_corrupt_own_archive_says_to_rebuild_it_and_leaves_nothing_behind(own, tmp_path, capsys, no_network):
    folder = tmp_path / "mine"
    folder.mkdir()
    data = (own[0] / "train.tar.gz").read_bytes()
    (folder / "train.tar.gz").write_bytes(data[:len(data) // 2])     # a copy cut short
    out = tmp_path / "out" / "mine.h5"
    argv = ["prepare", "--archives", str(folder), "--no-verify", "--splits", "train", "--out", str(out), "--jobs", "1"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {folder / 'train.tar.gz'}: corrupt or truncated" in err, err
    assert "rebuild it or copy it again from where it came from (prepare --no-verify never downloads)" in err
    assert "download it" not in err.replace("never downloads", "")
    assert not out.parent.exists() or not list(out.parent.iterdir())   # no store, no empty mine.h5.parts/
    assert sorted(p.name for p in folder.iterdir()) == ["train.tar.gz"]
