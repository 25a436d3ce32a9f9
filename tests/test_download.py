"""Downloader tests against a Range-capable HTTP server started on 127.0.0.1 (no other network)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from svhn_api.data import download
from svhn_api.data.download import OFFICIAL_FILES, OFFICIAL_URL, ensure_archives, file_md5, write_manifest
from svhn_api.errors import ArchiveError

DATA = random.Random(0).randbytes(300_000)
MD5 = hashlib.md5(DATA).hexdigest()


class Server:
    """Serves files from ``root``; records (name, Range header) of every request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.drop_once: set[str] = set()  # send a third of the body, then close the connection
        self.drop_always = False  # close the connection before sending any body byte
        self.ignore_range = False
        self.url = ""


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            name = self.path.lstrip("/")
            rng = self.headers.get("Range")
            state.requests.append((name, rng))
            path = state.root / name
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start = 0
            if rng and not state.ignore_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.drop_always or name in state.drop_once:
                state.drop_once.discard(name)
                self.wfile.write(b"" if state.drop_always else body[: len(body) // 3])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture(autouse=True)
def _no_proxy_no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(download, "_BACKOFF_S", 0.0)


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "train.tar.gz").write_bytes(DATA)
    state = Server(root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "archives"


def _get(folder: Path, server: Server, expected=None, **kw) -> dict[str, Path]:
    return ensure_archives(
        folder,
        ("train",),
        base_url=server.url,
        expected=expected or {"train.tar.gz": (len(DATA), MD5)},
        progress=False,
        timeout=5,
        **kw,
    )


def _count_md5(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = download.file_md5

    def counting(path, **kw):
        calls.append(Path(path))
        return real(path, **kw)

    monkeypatch.setattr(download, "file_md5", counting)
    return calls


def test_official_constants() -> None:
    assert OFFICIAL_URL == "http://ufldl.stanford.edu/housenumbers/"
    assert OFFICIAL_FILES["train.tar.gz"] == (404141560, "a649f4cb15c35520e8a8c342d4c0005a")
    assert OFFICIAL_FILES["test.tar.gz"] == (276555967, "790d9c8d42f1fcbd219b59956c853a81")
    assert OFFICIAL_FILES["extra.tar.gz"] == (1955489752, "606f41243d71ca4d5fe66dbaf1f02bee")
    assert OFFICIAL_FILES["extra_32x32.mat"] == (1329278602, "a93ce644f1a588dc4d68dda5feec44a7")


# The MD5s published at OFFICIAL_URL, written out again here (not read from OFFICIAL_FILES) so that a wrong
# constant or a broken is_official_md5 each fails a test of its own.
PUBLISHED_MD5 = {
    "train.tar.gz": "a649f4cb15c35520e8a8c342d4c0005a",
    "test.tar.gz": "790d9c8d42f1fcbd219b59956c853a81",
    "extra.tar.gz": "606f41243d71ca4d5fe66dbaf1f02bee",
    "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
    "extra_32x32.mat": "a93ce644f1a588dc4d68dda5feec44a7",
}


def test_every_official_file_has_a_published_checksum() -> None:
    assert {name: md5 for name, (_, md5) in OFFICIAL_FILES.items()} == PUBLISHED_MD5


@pytest.mark.parametrize("name", sorted(PUBLISHED_MD5))
def test_is_official_md5_knows_each_official_checksum(name: str, tmp_path: Path) -> None:
    md5 = PUBLISHED_MD5[name]
    assert download.is_official_md5(md5)
    for i, c in enumerate(md5):   # one character changed, anywhere: not official
        other = "0" if c != "0" else "1"
        assert not download.is_official_md5(md5[:i] + other + md5[i + 1:]), (name, i)
    for near in (md5[:-1], md5[1:], md5 + "0", " " + md5, ""):   # cut, lengthened, padded: not official
        assert not download.is_official_md5(near), (name, near)
    others = [m for n, m in PUBLISHED_MD5.items() if n != name]
    assert download.archives_source(tmp_path, [md5, *others]) == "real"
    assert download.archives_source(tmp_path, [md5, MD5]) == "unofficial"   # one unofficial file spoils it


def test_download_and_verify(folder: Path, server: Server) -> None:
    paths = _get(folder, server)
    assert paths == {"train": folder / "train.tar.gz"}
    assert paths["train"].read_bytes() == DATA
    assert not (folder / "train.tar.gz.partial").exists()
    assert server.requests == [("train.tar.gz", None)]
    cache = json.loads((folder / download.CACHE_NAME).read_text())
    assert cache["train.tar.gz"]["md5"] == MD5


def test_dropped_connection_is_resumed_with_range(folder: Path, server: Server) -> None:
    server.drop_once.add("train.tar.gz")
    paths = _get(folder, server)
    assert paths["train"].read_bytes() == DATA
    assert len(server.requests) == 2
    assert server.requests[0] == ("train.tar.gz", None)
    offset = int(re.fullmatch(r"bytes=(\d+)-", server.requests[1][1]).group(1))
    assert 0 < offset < len(DATA)


def test_connection_that_keeps_dropping_gives_up(folder: Path, server: Server) -> None:
    server.drop_always = True
    with pytest.raises(ArchiveError, match="kept failing") as err:
        _get(folder, server)
    assert len(server.requests) == download.RETRIES + 1
    assert str(folder.resolve()) in str(err.value)


def test_existing_partial_is_resumed(folder: Path, server: Server) -> None:
    folder.mkdir()
    (folder / "train.tar.gz.partial").write_bytes(DATA[:1000])
    assert _get(folder, server)["train"].read_bytes() == DATA
    assert server.requests == [("train.tar.gz", "bytes=1000-")]


def test_complete_partial_needs_no_request(folder: Path, server: Server) -> None:
    folder.mkdir()
    (folder / "train.tar.gz.partial").write_bytes(DATA)
    assert _get(folder, server)["train"].read_bytes() == DATA
    assert server.requests == []


def test_server_ignoring_range_restarts_cleanly(folder: Path, server: Server) -> None:
    server.ignore_range = True
    folder.mkdir()
    (folder / "train.tar.gz.partial").write_bytes(DATA[:1000])
    assert _get(folder, server)["train"].read_bytes() == DATA
    assert server.requests == [("train.tar.gz", "bytes=1000-")]


def test_range_not_satisfiable_ends_in_a_clear_error(folder: Path, server: Server) -> None:
    short = DATA[:-10]
    (server.root / "train.tar.gz").write_bytes(short)  # the server's copy is shorter than expected
    folder.mkdir()
    (folder / "train.tar.gz.partial").write_bytes(short)
    with pytest.raises(ArchiveError) as err:
        _get(folder, server)
    assert f"found {len(short)} bytes" in str(err.value)
    assert server.requests == [("train.tar.gz", f"bytes={len(short)}-")]


def test_checksum_mismatch_keeps_the_bad_file_aside(folder: Path, server: Server) -> None:
    wrong = "0" * 32
    with pytest.raises(ArchiveError) as err:
        _get(folder, server, expected={"train.tar.gz": (len(DATA), wrong)})
    msg = str(err.value)
    assert "train.tar.gz" in msg and wrong in msg and MD5 in msg and str(len(DATA)) in msg
    assert "download" in msg  # the fix
    bad = folder / f"train.tar.gz.bad-{MD5}"
    assert bad.read_bytes() == DATA
    assert str(bad) in msg
    assert not (folder / "train.tar.gz").exists()
    assert not (folder / "train.tar.gz.partial").exists()


def test_bad_local_archive_is_moved_aside(folder: Path) -> None:
    folder.mkdir()
    (folder / "test.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(ArchiveError) as err:
        ensure_archives(folder, ("test",), download=False, progress=False)
    found = hashlib.md5(b"not the archive").hexdigest()
    msg = str(err.value)
    assert OFFICIAL_FILES["test.tar.gz"][1] in msg and found in msg and "276555967" in msg
    assert (folder / f"test.tar.gz.bad-{found}").read_bytes() == b"not the archive"
    assert not (folder / "test.tar.gz").exists()


def test_offline_error_says_where_to_put_archives(folder: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(ArchiveError) as err:
        ensure_archives(folder, ("train", "test"), base_url=url, progress=False, timeout=5)
    msg = str(err.value)
    assert "train.tar.gz" in msg and "test.tar.gz" in msg
    assert f"{url}train.tar.gz" in msg and str(folder.resolve()) in msg


def test_download_disabled_names_url_and_folder(folder: Path) -> None:
    with pytest.raises(ArchiveError) as err:
        ensure_archives(folder, ("extra",), download=False, progress=False)
    msg = str(err.value)
    assert f"{OFFICIAL_URL}extra.tar.gz" in msg and str(folder.resolve()) in msg


def test_missing_on_server_is_reported(folder: Path, server: Server) -> None:
    with pytest.raises(ArchiveError, match="HTTP 404") as err:
        ensure_archives(folder, ("nope",), base_url=server.url, expected={"nope": (1, "0" * 32)}, progress=False)
    assert "nope.tar.gz" in str(err.value)


def test_verification_is_cached(folder: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_md5(monkeypatch)
    _get(folder, server)
    assert len(calls) == 1
    _get(folder, server)
    _get(folder, server)
    assert len(calls) == 1  # no re-hash while size and mtime are unchanged
    path = folder / "train.tar.gz"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    _get(folder, server)
    assert len(calls) == 2
    assert server.requests == [("train.tar.gz", None)]


def test_manifest_is_used_and_primes_the_cache(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.mkdir()
    (folder / "train.tar.gz").write_bytes(b"synthetic train")
    (folder / "test.tar.gz").write_bytes(b"synthetic test")
    manifest = write_manifest(folder, ["train", "test.tar.gz"])
    data = json.loads(manifest.read_text())
    assert data["source"] == "synthetic"
    assert data["archives"]["train.tar.gz"] == {
        "size": 15,
        "md5": hashlib.md5(b"synthetic train").hexdigest(),
    }
    calls = _count_md5(monkeypatch)
    paths = ensure_archives(folder, ("train", "test"), download=False, progress=False)
    assert paths["test"] == folder / "test.tar.gz" and calls == []

    (folder / "test.tar.gz").write_bytes(b"synthetic TEST")  # same size, other bytes
    with pytest.raises(ArchiveError, match="manifest.json"):
        ensure_archives(folder, ("test",), download=False, progress=False)


def test_manifest_archive_is_never_fetched_from_the_official_server(folder: Path) -> None:
    folder.mkdir()
    (folder / "train.tar.gz").write_bytes(b"synthetic train")
    write_manifest(folder, ["train"])
    (folder / "train.tar.gz").unlink()
    with pytest.raises(ArchiveError, match="Regenerate"):
        ensure_archives(folder, ("train",), progress=False)  # would need the network if it tried


def test_file_md5(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(DATA)
    assert file_md5(path) == MD5
