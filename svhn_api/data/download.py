"""Get the SVHN full-number archives and make sure they are the right bytes.

Downloads resume with HTTP Range requests, dropped connections are retried, every archive is checked
for size and MD5 before use (the result is cached in ``.verified.json`` so a 2 GB archive is hashed once),
and a bad file is moved aside (``<name>.bad-<md5>``), never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from tqdm import tqdm

from svhn_api.atomic import write_json
from svhn_api.errors import ArchiveError
from svhn_api.paths import archives_dir

OFFICIAL_URL = "http://ufldl.stanford.edu/housenumbers/"

#: name -> (size in bytes, MD5) of the files published at OFFICIAL_URL.
OFFICIAL_FILES: dict[str, tuple[int, str]] = {
    "train.tar.gz": (404141560, "a649f4cb15c35520e8a8c342d4c0005a"),
    "test.tar.gz": (276555967, "790d9c8d42f1fcbd219b59956c853a81"),
    "extra.tar.gz": (1955489752, "606f41243d71ca4d5fe66dbaf1f02bee"),
    "train_32x32.mat": (182040794, "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test_32x32.mat": (64275384, "eb5a983be6a315427106f1b164d9cef3"),
    "extra_32x32.mat": (1329278602, "a93ce644f1a588dc4d68dda5feec44a7"),
}



def is_official_md5(md5: str) -> bool:
    """Whether ``md5`` is the checksum of one of the official SVHN files."""
    return any(md5 == m for _, m in OFFICIAL_FILES.values())


def archives_source(folder: str | os.PathLike[str], md5s: Iterable[str]) -> str:
    """What verified archives are: "real" (all official), else the manifest's ``source`` (e.g. "synthetic")."""
    md5s = list(md5s)
    if md5s and all(is_official_md5(m) for m in md5s):
        return "real"
    try:
        return str(json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8")).get("source", "unofficial"))
    except (OSError, ValueError, AttributeError):
        return "unofficial"

MANIFEST_NAME = "manifest.json"
CACHE_NAME = ".verified.json"
RETRIES = 4  # consecutive failed attempts (no new bytes) before giving up on one file
_BACKOFF_S = 1.0  # first retry delay; doubles on each consecutive failure
_MAX_ATTEMPTS = 200  # hard stop even when every attempt makes a little progress
_HASH_CHUNK = 1 << 20
_NET_CHUNK = 256 << 10
_HASH_BAR_FROM = 64 << 20  # show a hashing progress bar from this size on
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


class _Dropped(Exception):
    """The body ended early or the connection broke: worth another (resumed) attempt."""


class _Restart(Exception):
    """The server's answer to a Range request cannot be appended: start the file again."""


class _Unreachable(Exception):
    """The server cannot be reached or refuses the file: no point in retrying now."""


def file_md5(path: str | os.PathLike[str], *, progress: bool = False) -> str:
    """MD5 hex digest of a file, read in 1 MiB chunks (a bar for big files when ``progress``)."""
    path = Path(path)
    digest = hashlib.md5(usedforsecurity=False)
    size = path.stat().st_size
    with (
        open(path, "rb") as f,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"checking {path.name}",
            disable=not progress or size < _HASH_BAR_FROM,
            leave=False,
        ) as bar,
    ):
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def write_manifest(folder: str | os.PathLike[str], names: Iterable[str], *, source: str = "synthetic") -> Path:
    """Record size and MD5 of archives in ``folder/manifest.json`` so that ``ensure_archives`` checks them.

    ``names`` are file names in ``folder``; a bare split name such as ``"train"`` means ``train.tar.gz``.
    Entries already in the manifest for other names are kept. The file is written atomically.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    entries: dict[str, dict[str, object]] = {}
    if manifest_path.exists():
        with contextlib.suppress(ArchiveError):  # an unreadable manifest is rebuilt, not fatal here
            entries = {n: {"size": s, "md5": m} for n, (s, m) in _read_manifest(manifest_path).items()}
    cache = _load_cache(folder)
    for name in map(_file_name, names):
        path = folder / name
        if not path.is_file():
            raise ArchiveError(f"{path}: cannot add it to {manifest_path}: no such file. Write it first.")
        md5 = file_md5(path)
        st = path.stat()
        entries[name] = {"size": st.st_size, "md5": md5}
        cache[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": md5}
    write_json(manifest_path, {"source": source, "archives": entries}, sort_keys=True)
    with contextlib.suppress(OSError):
        write_json(folder / CACHE_NAME, cache, sort_keys=True)
    return manifest_path


def ensure_archives(
    folder: str | os.PathLike[str] | None = None,
    splits: Iterable[str] = ("train", "extra", "test"),
    *,
    download: bool = True,
    base_url: str = OFFICIAL_URL,
    expected: Mapping[str, tuple[int, str]] | None = None,
    progress: bool = True,
    timeout: float = 30,
    verify: bool = True,
) -> dict[str, Path]:
    """Make sure ``{split}.tar.gz`` is in ``folder`` (default ``paths.archives_dir()``) and has the expected
    size and MD5, for each split.

    Missing archives are downloaded from ``base_url`` (resuming ``<name>.partial`` files) unless
    ``download`` is false. Expected values come from ``expected`` (file name -> (size, md5)), else from
    ``folder/manifest.json`` (see ``write_manifest``), else from the official SVHN checksums.
    ``verify=False`` (a user's own archives in the official layout): no size/MD5 check and no download,
    only that every archive is there. Returns split -> path. Raises ``ArchiveError`` for anything missing,
    unreachable or wrong.
    """
    splits = list(splits)
    paths = _ensure(
        archives_dir() if folder is None else folder,
        [f"{split}.tar.gz" for split in splits],
        download=download,
        base_url=base_url,
        expected=expected,
        progress=progress,
        timeout=timeout,
        verify=verify,
    )
    return {split: paths[f"{split}.tar.gz"] for split in splits}


def _ensure(
    folder: str | os.PathLike[str],
    names: Iterable[str],
    *,
    download: bool = True,
    base_url: str = OFFICIAL_URL,
    expected: Mapping[str, tuple[int, str]] | None = None,
    progress: bool = True,
    timeout: float = 30,
    verify: bool = True,
) -> dict[str, Path]:
    """``ensure_archives`` on file names. Returns name -> path."""
    folder = Path(folder)
    names = list(dict.fromkeys(names))
    if not verify:
        return _present(folder, names)
    expectations = _expectations(folder, names, expected)
    base_url = base_url if base_url.endswith("/") else base_url + "/"

    # Check what is already here first: a bad local file is reported before any long download.
    for name in names:
        if (folder / name).is_file():
            _verify(folder, name, expectations[name], base_url, progress)

    missing = [name for name in names if not (folder / name).is_file()]
    if missing and not download:
        raise ArchiveError(_missing_message(folder, missing, base_url, "downloading is turned off"))
    if missing:
        official = [n for n in missing if expectations[n][:2] == OFFICIAL_FILES.get(n)]
        unofficial = [n for n in missing if n not in official]
        if unofficial and base_url == OFFICIAL_URL:
            # The official server cannot have files whose checksums come from a synthetic manifest.
            raise ArchiveError(
                f"Missing {', '.join(unofficial)} in {folder.resolve()}/: {_they(unofficial)} expected "
                f"checksum{_s(unofficial)} come{'' if len(unofficial) > 1 else 's'} from "
                f"{expectations[unofficial[0]][2]}, not from the official SVHN release, so "
                f"{_they(unofficial, 'they', 'it')} cannot be downloaded from {OFFICIAL_URL}. Regenerate "
                f"{_they(unofficial, 'them', 'it')} (e.g. with the `synth` command, API: svhn_api.synth, "
                f"which rewrites {MANIFEST_NAME}) or put the original file{_s(unofficial)} back."
            )
        folder.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(missing):
            size, md5, _ = expectations[name]
            partial = folder / f"{name}.partial"
            try:
                _fetch(base_url + name, partial, size, progress=progress, timeout=timeout)
            except _Unreachable as e:
                raise ArchiveError(_missing_message(folder, missing[i:], base_url, str(e))) from None
            _verify(folder, name, expectations[name], base_url, progress, candidate=partial)
    return {name: folder / name for name in names}


# ----------------------------------------------------------------------------------------- checking


def _file_name(name: str) -> str:
    return name if "." in name else f"{name}.tar.gz"


def _present(folder: Path, names: list[str]) -> dict[str, Path]:
    """name -> path when every file is in ``folder`` (``verify=False``: nothing is checked or downloaded)."""
    missing = [folder / name for name in names if not (folder / name).is_file()]
    if missing:
        raise ArchiveError(
            f"Missing {', '.join(map(str, missing))}: checks are turned off (--no-verify, API: verify=False), "
            f"so nothing is downloaded. Fix: put your archive{_s(missing)} in the official layout at exactly "
            f"{'these paths' if len(missing) > 1 else 'this path'}, or run without --no-verify to download the "
            f"official SVHN archives."
        )
    return {name: folder / name for name in names}


def _expectations(
    folder: Path, names: list[str], expected: Mapping[str, tuple[int, str]] | None
) -> dict[str, tuple[int, str, str]]:
    """name -> (size, md5, where these values come from)."""
    manifest_path = folder / MANIFEST_NAME
    manifest = _read_manifest(manifest_path) if expected is None and manifest_path.is_file() else {}
    out: dict[str, tuple[int, str, str]] = {}
    for name in names:
        split = name.removesuffix(".tar.gz")
        if expected is not None:
            value = expected.get(name, expected.get(split))
            where = "the expected= argument"
        elif name in manifest:
            value, where = manifest[name], str(manifest_path)
        else:
            value, where = OFFICIAL_FILES.get(name), "the official SVHN checksums"
        if value is None:
            raise ArchiveError(
                f"No size/MD5 known for {name}: it is not an official SVHN file and "
                f"{'expected= does not list it' if expected is not None else f'{manifest_path} lacks it'}. "
                f"Fix: pass expected={{'{name}': (size, md5)}} or write a manifest with "
                f"svhn_api.data.download.write_manifest."
            )
        size, md5 = value
        out[name] = (int(size), str(md5).lower(), where)
    return out


def _read_manifest(path: Path) -> dict[str, tuple[int, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(n): (int(e["size"]), str(e["md5"]).lower()) for n, e in data["archives"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ArchiveError(
            f"{path}: unreadable archive manifest ({e}). Fix: regenerate it (the `synth` command writes it, "
            f"API: svhn_api.synth or svhn_api.data.download.write_manifest), or delete it to check against the "
            f"official checksums."
        ) from None


def _verify(
    folder: Path,
    name: str,
    expectation: tuple[int, str, str],
    base_url: str,
    progress: bool,
    candidate: Path | None = None,
) -> None:
    """Check ``candidate`` (default ``folder/name``); on success it ends up at ``folder/name``."""
    size, md5, where = expectation
    final = folder / name
    path = candidate or final
    cache = _load_cache(folder)
    st = path.stat()
    entry = cache.get(name)
    if (
        candidate is None
        and isinstance(entry, dict)
        and entry.get("size") == st.st_size == size
        and entry.get("mtime_ns") == st.st_mtime_ns
        and entry.get("md5") == md5
    ):
        return
    found = file_md5(path, progress=progress)
    if st.st_size != size or found != md5:
        bad = folder / f"{name}.bad-{found}"
        os.replace(path, bad)
        if cache.pop(name, None) is not None:
            with contextlib.suppress(OSError):
                write_json(folder / CACHE_NAME, cache, sort_keys=True)
        if where in ("the official SVHN checksums", "the expected= argument"):
            fix = f"run again to download a fresh copy from {base_url}{name}, or put a good copy at {final}"
        else:
            fix = (f"regenerate the archive and its manifest (the `synth` command, API: svhn_api.synth), or put "
                   f"the original at {final}")
        what = "downloaded file" if candidate is not None else "archive"
        own = (
            f"; if this is your own archive in the official layout, put it back (move {bad} to {final}) "
            f"and pass --no-verify (API: verify=False): its members are still checked and the store "
            f"records it as unverified"
            if candidate is None and name.endswith(".tar.gz")
            else ""
        )
        raise ArchiveError(
            f"{final}: {what} fails its check. Expected {size} bytes, MD5 {md5} (from {where}); "
            f"found {st.st_size} bytes, MD5 {found}. The bad file was moved aside to {bad} (delete it "
            f"when you no longer need it). Fix: {fix}{own}."
        )
    if candidate is not None:
        os.replace(candidate, final)
        st = final.stat()
    cache[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": found}
    with contextlib.suppress(OSError):  # the cache only saves time; a read-only folder is fine
        write_json(folder / CACHE_NAME, cache, sort_keys=True)


def _load_cache(folder: Path) -> dict[str, object]:
    try:
        data = json.loads((folder / CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _missing_message(folder: Path, missing: list[str], base_url: str, reason: str) -> str:
    where = folder.resolve()
    urls = ", ".join(base_url + n for n in missing)
    partials = [n for n in missing if (folder / f"{n}.partial").exists()]
    kept = (
        f" Partial downloads are kept ({', '.join(n + '.partial' for n in partials)}) and resume next time."
        if partials
        else ""
    )
    names = "exactly these names" if len(missing) > 1 else "exactly this name"
    return (
        f"Missing SVHN archive{_s(missing)} {', '.join(missing)} in {where}/ ({reason}). "
        f"Fix: download {urls} and put {_they(missing, 'them', 'it')} in {where}/ under {names}, then run "
        f"again " + SYNTHETIC_INSTEAD + f".{kept}"
    )


SYNTHETIC_INSTEAD = ("(or use synthetic data instead: the `prepare --source synthetic` command, or `synth --out DIR` "
                     'then `prepare --archives DIR`; API: prepare(source="synthetic"), svhn_api.synth)')


def _s(items: list) -> str:
    """The plural 's' for ``items``."""
    return "" if len(items) == 1 else "s"


def _they(items: list, many: str = "their", one: str = "its") -> str:
    return one if len(items) == 1 else many


# ---------------------------------------------------------------------------------------- download


def _fetch(url: str, partial: Path, size: int, *, progress: bool, timeout: float) -> None:
    """Download ``url`` into ``partial`` until it holds ``size`` bytes or the server says it is done."""
    opener = urllib.request.build_opener()  # built per call so proxy settings are read now
    failures = attempts = 0
    have = partial.stat().st_size if partial.exists() else 0
    with tqdm(
        total=size,
        initial=min(have, size),
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=partial.name.removesuffix(".partial"),
        disable=not progress,
        delay=0.5,  # shown once bytes arrive: offline, no empty 0% bar before the error
    ) as bar:
        while True:
            have = partial.stat().st_size if partial.exists() else 0
            if have > size:  # cannot be a prefix of the right file
                _truncate(partial)
                have = 0
            if have == size:
                return
            _check_space(partial, size - have)
            if bar.n != have:  # a retry resumes (or restarts) here
                bar.n = have
                bar.refresh()
            attempts += 1
            try:
                complete = _fetch_once(opener, url, partial, have, timeout, bar)
                if not complete and (partial.stat().st_size if partial.exists() else 0) < size:
                    raise _Dropped("the connection closed before the whole file arrived")
                return
            except _Restart:
                _truncate(partial)
                reason = "the server's answer to a Range request did not fit: starting over"
            except _Dropped as e:
                reason = str(e)
            except urllib.error.HTTPError as e:
                if e.code not in (408, 429) and e.code < 500:
                    raise _Unreachable(f"{url}: HTTP {e.code} {e.reason}") from None
                reason = f"HTTP {e.code} {e.reason}"
            except urllib.error.URLError as e:
                if _is_unreachable(e.reason):
                    raise _Unreachable(f"cannot reach {url}: {e.reason}") from None
                reason = str(e.reason)
            except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
                reason = f"{type(e).__name__}: {e}"
            now = partial.stat().st_size if partial.exists() else 0
            failures = 1 if now > have else failures + 1
            if failures > RETRIES or attempts >= _MAX_ATTEMPTS:
                raise _Unreachable(f"download of {url} kept failing ({attempts} attempts, last: {reason})")
            delay = _BACKOFF_S * 2 ** (failures - 1)
            bar.write(f"{partial.name}: {reason}; retrying in {delay:.0f} s (resuming at {now} bytes)")
            time.sleep(delay)


def _fetch_once(
    opener: urllib.request.OpenerDirector, url: str, partial: Path, have: int, timeout: float, bar: tqdm
) -> bool:
    """One request. True when the server says the file is complete; False when the body had no length."""
    headers = {"User-Agent": "svhn-reader", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            match = _UNSATISFIED_RANGE.search(e.headers.get("Content-Range") or "")
            e.close()
            if match and int(match.group(1)) == have:
                return True  # the partial file already holds everything the server has
            raise _Restart() from None
        raise
    with resp:
        mode = "wb"
        if have and resp.status == 206:
            match = _CONTENT_RANGE.search(resp.headers.get("Content-Range") or "")
            if not match or int(match.group(1)) != have:
                raise _Restart()
            mode = "ab"
        elif have:  # a 200 to a Range request: the server sends the whole file, start over with it
            bar.n = 0
            bar.refresh()
        length_header = resp.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        received = 0
        try:
            f = open(partial, mode)
        except OSError as e:
            raise ArchiveError(f"{partial}: cannot write the download ({e}). Fix: check the folder.") from e
        with f:
            while True:
                try:
                    chunk = resp.read(_NET_CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise _Dropped(f"connection lost after {received} bytes ({type(e).__name__}: {e})") from e
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as e:
                    raise ArchiveError(
                        f"{partial}: cannot write the download ({e}). Fix: free disk space in "
                        f"{partial.parent.resolve()} and run again; the download resumes where it stopped."
                    ) from None
                received += len(chunk)
                bar.update(len(chunk))
        if length is not None and received < length:
            raise _Dropped(f"connection closed after {received} of {length} bytes")
        return length is not None


def _is_unreachable(reason: object) -> bool:
    if isinstance(reason, socket.gaierror | ConnectionRefusedError):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def _truncate(path: Path) -> None:
    with open(path, "wb"):
        pass


def _check_space(partial: Path, needed: int) -> None:
    try:
        free = shutil.disk_usage(partial.parent).free
    except OSError:
        return
    if free < needed:
        raise ArchiveError(
            f"{partial}: not enough disk space to download it ({needed} bytes needed, {free} free in "
            f"{partial.parent.resolve()}). Fix: free some space or use another folder, then run again."
        )


def expected_md5(folder: str | os.PathLike[str], name: str) -> str:
    """The MD5 an archive in ``folder`` is checked against (manifest first, else official): after
    ``ensure_archives`` succeeds, this is the archive's own MD5, without hashing it again."""
    return _expectations(Path(folder), [_file_name(name)], None)[_file_name(name)][1]
