"""Reading house numbers in many photos: ``read_photos(inputs, out)``.

Inputs are files, folders (searched recursively for PNG and JPEG files), glob patterns and ``.tar.gz``
archives (every PNG/JPEG member, read in one streaming pass with the archive reader's member checks; a damaged
archive, or one with a member refused, gives one row saying why, after those of its photos before the fault).
An input that names no photo is reported (``ReadSummary.unread_inputs``; none naming one: an error). Each
photo gives one row of ``FIELDS`` in ``out``, a CSV or JSON Lines file, written batch by batch: nothing holds
all photos in memory. Rerunning the same command resumes: photos already in ``out`` are skipped (a row cut
by an interruption is dropped and redone). A large job is read by one worker process per core, each decoding
and reading its own batches; a small one here, photos decoded on a thread pool while the previous batch is
read by the models (``predict``: the localizer finds the number, the reader reads it).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from svhn_api import paths
from svhn_api.errors import ArchiveError, SVHNError
from svhn_api.models.runtime import one_thread_per_call

if TYPE_CHECKING:
    from svhn_api.inference.predict import Prediction
    from svhn_api.models.io import ModelOption, ModelSource

FIELDS = ("path", "number", "confidence", "unsure", "box", "error", "pipeline")
EARLIER_FIELDS = FIELDS[:-1]   # the columns of results written before ``pipeline``: resumed in those columns
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
FORMATS = ("csv", "jsonl")


@dataclass(frozen=True)
class Photo:
    """One input photo: its name in the results, and its file or (an archive member's) bytes."""

    name: str
    source: Path | bytes
    error: str | None = None    # why it cannot be read, known before decoding (a damaged or refused archive)


@dataclass
class ReadSummary:
    out: str
    read: int = 0        # rows written by this run
    failed: int = 0      # ... of which could not be read (their error is in the row)
    skipped: int = 0     # photos already in ``out`` from an earlier run
    seconds: float = 0.0
    runtime: dict[str, str] = field(default_factory=dict)   # what ran each model (``predict.runtimes``)
    unread_inputs: list[str] = field(default_factory=list)  # inputs that named no photo: why, for each
    pipeline: str = "fast"   # "fast", or "thorough": the full pipeline on the photos the fast path was unsure of
    rechecked: int = 0       # photos read again by the full pipeline (``thorough``)

    @property
    def per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


def expand(inputs: Iterable[str | os.PathLike[str]]) -> Iterator[Photo]:
    """Every photo named by ``inputs``, lazily, in order (a folder's and a glob's files sorted by path). A
    name that is nothing here is still yielded, so that its row says so."""
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
                yield Photo(str(f), f)
        elif path.is_file() and text.lower().endswith(ARCHIVE_SUFFIXES):
            yield from _archive_photos(path, text)
        elif not path.exists() and glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                yield Photo(text, path)   # its row: no such file
            yield from expand(matches)
        else:
            yield Photo(text, path)


def _archive_photos(path: Path, text: str) -> Iterator[Photo]:
    """The photos of one archive; a damaged archive, or one with a member refused, gives the photos before the
    fault and then one row for the archive saying why the rest of it is not read (the other inputs still are)."""
    from svhn_api.data.archives import iter_images

    try:
        for member, data in iter_images(path, full_names=True, suffixes=IMAGE_SUFFIXES):
            yield Photo(f"{text}:{member}", data)
    except ArchiveError as e:
        yield Photo(text, path, error=_for_batch(str(e)))
    except OSError as e:    # e.g. no permission to read it
        yield Photo(text, path, error=f"{text}: cannot read the archive ({e.strerror or e}); {BATCH_FIX}")


BATCH_FIX = ("none of its photos after this point is read (those before it are, in their own rows); repair or "
             "re-create the archive, or give its photos as files, then run the same command again: the photos "
             "already read are skipped")


def _for_batch(message: str) -> str:
    """An archive reader's error about a user's batch: its fix is ``BATCH_FIX``, not the advice for the official
    SVHN archives (download them again with ``prepare``), and it does not call the archive an SVHN archive."""
    from svhn_api.data import archives

    for svhn, plain in ((archives.FIX, BATCH_FIX), (" or not an SVHN archive", ""),
                        (" SVHN archives hold only plain files and folders, so this archive is not an intact SVHN "
                         "archive;", " An archive of photos holds only plain files and folders:")):
        message = message.replace(svhn, plain)
    return message


def check_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Why each input that names no photo names none (a missing path, a glob that matches nothing, a folder
    without photos), without reading any photo. When no input names a photo, an ``SVHNError`` says so."""
    problems = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            if not any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in path.rglob("*")):
                problems.append(f"{text}: a folder without photos (read looks for {', '.join(IMAGE_SUFFIXES)} "
                                f"files in it and its subfolders; name a .tar.gz archive itself to read it)")
        elif path.exists():
            continue
        elif glob.has_magic(text):
            if not glob.glob(text, recursive=True):
                problems.append(f"{text}: matches no file")
        else:
            problems.append(f"{text}: not found (no such file or folder)")
    if problems and len(problems) == len(inputs):
        raise SVHNError("nothing to read: " + "; ".join(problems) + ". Give photo files (PNG, JPEG), folders "
                        "holding them, glob patterns (quoted) or .tar.gz archives of photos")
    return problems


def output_format(out: str | os.PathLike[str], fmt: str | None = None) -> str:
    """``fmt``, else from ``out``'s suffix (``.jsonl``/``.ndjson``: JSON Lines; anything else: CSV)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: choose {' or '.join(FORMATS)}")
        return fmt
    return "jsonl" if Path(out).suffix.lower() in (".jsonl", ".ndjson") else "csv"


def already_read(out: Path, fmt: str) -> set[str]:
    """The photos ``out`` already holds a row for. A last line cut by an interruption is then cut off the
    file, so that the photo is read again; a file that is not a results file is refused, untouched."""
    if out.is_dir():
        raise SVHNError(f"{out}: a folder; give --out a file name in it, e.g. {out / 'results.csv'}")
    if out.name.lower().endswith(IMAGE_SUFFIXES + ARCHIVE_SUFFIXES):
        kind = "a photo" if out.name.lower().endswith(IMAGE_SUFFIXES) else "an archive"
        raise SVHNError(f"{out}: --out names {kind}, not a results file{', left as it is' if out.exists() else ''}; "
                        f"give --out a .csv or .jsonl file, e.g. {out.parent / 'results.csv'}")
    if not out.is_file() or out.stat().st_size == 0:
        return set()
    data = out.read_bytes()
    if b"\0" in data[:65536] or _not_utf8(data[:65536]):
        raise _foreign(out, "it is not a text file")
    complete = data[:data.rfind(b"\n") + 1]
    text = complete.decode("utf-8", errors="replace")
    names = _jsonl_names(out, text) if fmt == "jsonl" else _csv_names(out, text)
    if len(complete) < len(data):
        if not complete and not data.startswith(b'{"path": '):   # one line, not cut from one of our rows
            raise _foreign(out, "its only line is not a row of `read`")
        with open(out, "r+b") as f:
            f.truncate(len(complete))
    return names


def _not_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(head) - 4    # not just a character cut at the end of ``head``
    return False


def _foreign(out: Path, why: str) -> SVHNError:
    return SVHNError(f"{out}: not a results file of `read` ({why}); it is left as it is: give --out a new file "
                     f"name (.csv or .jsonl), e.g. {out.parent / 'results.csv'}")


def _csv_names(out: Path, text: str) -> set[str]:
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) not in (FIELDS, EARLIER_FIELDS):
        found = ", ".join(reader.fieldnames or ()) or "none"
        if len(found) > 200 or not found.isprintable():
            found = f"{found[:200]!r}..." if len(found) > 200 else repr(found)
        raise _foreign(out, f"its columns are {found}; the results of `read` have {', '.join(FIELDS)}")
    return {r["path"] for r in reader}


def _jsonl_names(out: Path, text: str) -> set[str]:
    names = set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("path"), str):
            raise _foreign(out, f'line {n} is not a JSON row with a "path"')
        names.add(row["path"])
    return names


def _decode(photo: Photo) -> Image.Image | str:
    from svhn_api.data.images import decoded_or_error

    return photo.error if photo.error is not None else decoded_or_error(photo.source, photo.name, working=True)


def _row(name: str, reading: Prediction | None = None, error: str | None = None) -> dict[str, Any]:
    if reading is None:
        return {"path": name, "number": None, "confidence": None, "unsure": None, "box": None, "error": error,
                "pipeline": None}
    box = None if reading.box is None else [round(float(v), 1) for v in reading.box]
    return {"path": name, "number": reading.number, "confidence": round(float(reading.confidence), 6),
            "unsure": bool(reading.unsure), "box": box, "error": reading.error, "pipeline": reading.pipeline}


class _Writer:
    """Rows appended to ``out`` and flushed batch by batch (CSV: the header once, for a new file; a file begun
    with ``EARLIER_FIELDS`` goes on in them)."""

    def __init__(self, out: Path, fmt: str) -> None:
        new = not out.is_file() or out.stat().st_size == 0
        self.fields: tuple[str, ...] = FIELDS
        if not new and fmt == "csv":
            with open(out, newline="", encoding="utf-8") as f:
                if tuple(next(csv.reader(f), ())) == EARLIER_FIELDS:
                    self.fields = EARLIER_FIELDS
        out.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(out, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.csv = csv.DictWriter(self.file, self.fields) if fmt == "csv" else None
        if self.csv is not None and new:
            self.csv.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            r = {k: row[k] for k in self.fields}
            if self.csv is not None:
                self.csv.writerow({**r, "box": "" if r["box"] is None else " ".join(map(str, r["box"])),
                                   "number": "" if r["number"] is None else r["number"]})
            else:
                self.file.write(json.dumps(r) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def read_batch(photos: Sequence[Photo], reader: ModelSource | None, localizer: ModelOption,
               decoded: Sequence[Image.Image | str] | None = None, digits: ModelOption = None,
               thorough: bool = False) -> list[dict[str, Any]]:
    """The rows of one batch: each photo decoded (unless ``decoded`` gives the results of ``_decode``) and
    read by ``predict``'s fast path, in order; with ``thorough``, the photos it is unsure of are read again by
    the full pipeline (their rows say ``pipeline``: ``full``; the others ``fast``)."""
    from svhn_api.inference.predict import predict

    decoded = [_decode(p) for p in photos] if decoded is None else decoded
    good = [(p, img) for p, img in zip(photos, decoded, strict=True) if not isinstance(img, str)]
    readings = predict([img for _, img in good], model=reader, localizer=localizer, top=1, errors="return",
                       names=[p.name for p, _ in good], digits=digits, pipeline="fast") if good else []
    again = [k for k, r in enumerate(readings) if thorough and r.ok and r.unsure]
    if again:
        full = predict([good[k][1] for k in again], model=reader, localizer=localizer, top=1, errors="return",
                       names=[good[k][0].name for k in again], digits=digits, pipeline="full")
        for k, r in zip(again, full, strict=True):
            readings[k] = r
    rows = iter(readings)
    return [_row(p.name, error=img) if isinstance(img, str) else _row(p.name, next(rows))
            for p, img in zip(photos, decoded, strict=True)]


def batches(photos: Iterable[Photo], size: int, parts: int) -> Iterator[list[Photo]]:
    """``photos`` in consecutive batches of ``size``, in order, but for the last ``parts * size`` or fewer, which
    are split into up to ``parts`` near-equal batches, so that a job smaller than a batch per core still keeps
    every core busy."""
    ahead: deque[Photo] = deque()
    for p in photos:
        ahead.append(p)
        if len(ahead) > parts * size:
            yield [ahead.popleft() for _ in range(size)]
    step = -(-len(ahead) // parts)
    while ahead:
        yield [ahead.popleft() for _ in range(min(step, len(ahead)))]


def _in_process(batch: list[Photo], reader: ModelSource | None, localizer: ModelOption, digits: ModelOption,
                thorough: bool, env: dict[str, str]) -> list[dict[str, Any]]:
    """One batch read in a worker process of ``_across_processes``, under the caller's ``$SVHN_*`` settings (a
    worker outlives the call that started it), each model call on one thread."""
    for name in [k for k in os.environ if k.startswith(ENV_PREFIXES) and k not in env]:
        del os.environ[name]
    os.environ.update(env)
    with one_thread_per_call():
        return read_batch(batch, reader, localizer, None, digits, thorough)


ENV_PREFIXES = ("SVHN_", "KERAS_")


def _across_processes(split: Iterator[list[Photo]], cores: int, reader: ModelSource | None, localizer: ModelOption,
                      digits: ModelOption, thorough: bool) -> Iterator[list[dict[str, Any]]]:
    """Batches read by one worker process per core, each decoding and reading its own batch, a few in flight,
    in order. The workers (spawned, not forked: the caller may hold ONNX Runtime's threads) stay up between
    calls in this process, their models loaded. Not joblib's reusable loky executor: taking it over would break
    joblib's own use of it (``prepare``'s workers) later in the same process."""
    pool = _POOLS.get(cores)
    if pool is None:
        import multiprocessing

        pool = _POOLS[cores] = ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn"))
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    pending: deque[Future] = deque()
    while True:
        while len(pending) <= cores and (batch := next(split, None)) is not None:
            pending.append(pool.submit(_in_process, batch, reader, localizer, digits, thorough, env))
        if not pending:
            return
        yield pending.popleft().result()


_POOLS: dict[int, ProcessPoolExecutor] = {}
# By default a job is read across processes when ``batches`` gives this many whole batches first, i.e. when it
# holds more than cores + PROCESSES_AFTER - 1 batches: on fewer, a cold command's worker start-up costs more than
# the processes save (docs/benchmarks.md).
PROCESSES_AFTER = 3


def _locally(photos: Iterator[Photo], batch_size: int, reader: ModelSource | None, localizer: ModelOption,
             digits: ModelOption, workers: int | None, thorough: bool, processes: bool | None,
             ) -> Iterator[list[dict[str, Any]]]:
    """Batches read here, in order. A large job (``PROCESSES_AFTER``), its models named by path, is read across
    processes (``_across_processes``; ``processes``: True or False to insist). Otherwise a thread pool
    decodes photos ahead, and one batch per core is read at once, each model call on one thread (ONNX Runtime,
    TensorFlow and PIL release the GIL, so one batch's crops are cut while another's run through a model)."""
    cores = os.cpu_count() or 1
    split = batches(photos, batch_size, cores)
    ahead = list(islice(split, PROCESSES_AFTER))
    if not ahead:
        return
    big = len(ahead) == PROCESSES_AFTER and all(len(b) == batch_size for b in ahead)
    split = chain(ahead, split)
    named = all(m is None or isinstance(m, bool | str | os.PathLike) for m in (reader, localizer, digits))
    if processes or (processes is None and cores > 1 and named and big):
        yield from _across_processes(split, cores, reader, localizer, digits, thorough)
        return

    def read(batch: list[Photo], decoded: list[Future]) -> list[dict[str, Any]]:
        with one_thread_per_call():
            return read_batch(batch, reader, localizer, [f.result() for f in decoded], digits, thorough)

    with ThreadPoolExecutor(workers or cores, thread_name_prefix="svhn-decode") as decoding, \
            ThreadPoolExecutor(cores, thread_name_prefix="svhn-read") as reading:
        def submit() -> Future | None:
            batch = next(split, None)
            if batch is None:
                return None
            return reading.submit(read, batch, [decoding.submit(_decode, p) for p in batch])

        pending: deque[Future] = deque()
        while True:
            while len(pending) <= cores and (future := submit()) is not None:
                pending.append(future)
            if not pending:
                return
            yield pending.popleft().result()


def _on_cluster(photos: Iterator[Photo], batch_size: int, reader: str, localizer: str | bool | None,
                digits: str | bool | None, scheduler: str, thorough: bool) -> Iterator[list[dict[str, Any]]]:
    """Batches read by a Dask cluster's workers, a few in flight per worker, written back in order. Files
    are read by the workers (a folder every worker sees); archive members travel as bytes. Each worker
    process loads the models once (``models.io``'s cache)."""
    from svhn_api.cluster import connected

    with connected(scheduler) as client:
        window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        pending: list[Any] = []
        while True:
            while len(pending) < window and (batch := list(islice(photos, batch_size))):
                pending.append(client.submit(read_batch, batch, reader, localizer, None, digits, thorough,
                                             pure=False))
            if not pending:
                return
            yield pending.pop(0).result()


def _check_models(model: ModelSource | None, *helpers: ModelOption) -> None:
    """A model path that names no model is an error before any photo is read (without loading Keras)."""
    from svhn_api.models.io import resolve

    if model is None or isinstance(model, str | os.PathLike):
        resolve(model)
    for helper in helpers:
        if isinstance(helper, str | os.PathLike):
            resolve(helper)


def read_photos(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                model: ModelSource | None = None, localizer: ModelOption = None, fmt: str | None = None,
                batch_size: int = 256, workers: int | None = None, progress: bool = True,
                scheduler: str | None = None, digits: ModelOption = None, thorough: bool = False,
                processes: bool | None = None) -> ReadSummary:
    """Read every photo of ``inputs`` into ``out`` (see the module's docstring); returns what was done.

    The fast path reads every photo (``predict(pipeline="fast")``); with ``thorough``, the photos it is unsure
    of are read again by the full pipeline (the scene-text models too: slower, right more often on numbers small
    in the photo). ``ReadSummary.pipeline`` and ``rechecked`` say what ran.
    ``model``/``localizer``/``digits`` as for ``predict`` (``localizer=False``: read each photo whole;
    ``digits=False``: the reader alone, faster).
    ``workers``: decoding threads (default: the core count) when the photos are read in this process.
    ``processes``: read across one worker process per core (True), in this process's threads (False), or the
    first for a large job (``_locally``) whose models are named by path (None).
    ``scheduler``: a Dask scheduler address: the batches are read by that cluster's workers (each loads the
    same model files, so the rows are the ones a local run writes).
    """
    from tqdm import tqdm

    out, fmt = Path(out), output_format(out, fmt)
    done = already_read(out, fmt)
    unread = check_inputs(inputs)
    _check_models(model, localizer, digits)
    summary = ReadSummary(str(out), skipped=0, unread_inputs=unread, pipeline="thorough" if thorough else "fast")
    t0 = time.perf_counter()

    def todo() -> Iterator[Photo]:
        for p in expand(inputs):
            if p.name in done:
                summary.skipped += 1
            else:
                yield p

    if scheduler is None:   # the models (and Keras) load with the first batch that holds a readable photo
        read = _locally(todo(), batch_size, model, localizer, digits, workers, thorough, processes)
    else:
        from svhn_api.models.io import load

        reader = load(model)
        remote_finder = localizer if localizer is None or localizer is False else str(
            Path(load(localizer).path).resolve())
        digits = digits if digits is not None else paths.default_digits()
        remote_digits = False if digits is None or digits is False else str(Path(load(digits).path).resolve())
        read = _on_cluster(todo(), batch_size, str(Path(reader.path).resolve()), remote_finder, remote_digits,
                              scheduler, thorough)
    writer = _Writer(out, fmt)
    with tqdm(desc=f"read -> {out.name}", unit="photo", disable=not progress, dynamic_ncols=True) as bar:
        try:
            for rows in read:
                writer.write(rows)
                summary.read += len(rows)
                summary.failed += sum(r["error"] is not None for r in rows)
                summary.rechecked += sum(r.get("pipeline") == "full" for r in rows)
                bar.update(len(rows))
        finally:
            writer.close()
    summary.seconds = round(time.perf_counter() - t0, 3)
    if summary.read > summary.failed:    # the models were loaded (here, or by the cluster's workers)
        from svhn_api.inference.predict import runtimes

        summary.runtime = runtimes(model, localizer, digits, scene_text=summary.rechecked > 0)
    return summary
