"""prepare(): official (or synthetic) SVHN archives -> one verified, prepared HDF5 store.

Each archive is preprocessed in parallel (joblib) into a part file next to the output; parts are kept
between runs, so an interrupted ``prepare`` continues from the archives already done. The final store is
assembled from the parts into a temporary file and renamed only when complete.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import h5py
import numpy as np

from svhn_api.atomic import atomic_path
from svhn_api.data.archives import FIX as ARCHIVE_FIX
from svhn_api.data.archives import Unpacked, for_own_archive
from svhn_api.data.digitstruct import FIX as DIGITSTRUCT_FIX
from svhn_api.data.preprocess import CropMode
from svhn_api.data.store import (
    CHUNK_ROWS,
    SPLIT_FREE_FIELDS,
    ChunkAligned,
    StoreAttrs,
    append_rows,
    box_array,
    create_datasets,
    split_ranges,
    write_attrs,
)
from svhn_api.errors import ArchiveError
from svhn_api.paths import archives_dir, data_dir, synthetic_dir
from svhn_api.records import DigitBox, ImageRecord
from svhn_api.version import __version__

ARCHIVE_NAMES = ("train", "extra", "test")
TASK_IMAGES = 128
Progress = Callable[[str, int, int], None]


@dataclass
class PrepareSummary:
    """What ``prepare`` made: where, how many rows per split, what it left out and why, how long it took."""

    path: str
    crop: str
    counts: dict[str, int]
    left_out: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    archives: dict[str, str] = field(default_factory=dict)
    verified: bool = True  # False: prepare(verify=False), the archives' size/MD5 were not checked
    splits: list[str] = field(default_factory=list)  # the archives read: train, extra, test or some of them

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class Cropped(NamedTuple):
    """An image a ``_process_chunk`` worker cropped (module-level: joblib pickles it back)."""

    filename: str
    image: np.ndarray            # the crop
    labels: np.ndarray           # its label row (``labels.boxes_to_row``)
    boxes: list[DigitBox]
    size: tuple[int, int]        # the photo's (width, height)


class LeftOut(NamedTuple):
    """An image a ``_process_chunk`` worker could not decode or crop, and why."""

    filename: str
    reason: str


def _process_chunk(chunk: list[tuple[str, Any, list[DigitBox] | None]], mode: CropMode, tar_path: str | None = None,
                   ) -> list[Cropped | LeftOut]:
    """Worker: decode and crop a chunk of PNGs, each given as its bytes, or with ``tar_path`` (a plain tar file
    this worker can open) as its ``(offset, size)`` there. An image that cannot be decoded or cropped gets a
    ``LeftOut`` with its reason, a tar that cannot be read raises."""
    from svhn_api.data.archives import read_at
    from svhn_api.data.images import load_image
    from svhn_api.data.preprocess import SkipImage, check_boxes, crop
    from svhn_api.labels import boxes_to_row

    out: list[Cropped | LeftOut] = []
    for name, data, boxes in chunk:
        if tar_path is not None:
            data = read_at(tar_path, *data)
        try:
            if boxes is None:
                raise SkipImage("no entry in digitStruct.mat")
            check_boxes(boxes)
            img = load_image(data)
            out.append(Cropped(name, crop(img, boxes, mode), boxes_to_row(boxes), boxes, img.size))
        except Exception as e:  # every failure is reported by name and reason, never dropped silently
            out.append(LeftOut(name, str(e) or e.__class__.__name__))
    return out


def _chunks(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def _part_key(archive_md5: str, mode: str) -> str:
    return f"{archive_md5}:{mode}:{__version__}"


@contextlib.contextmanager
def _cluster(scheduler: str | None) -> Iterator[None]:
    """Where joblib runs within the block: its default (local processes), or joblib's Dask backend on the
    cluster at ``scheduler`` (``svhn_api.cluster``)."""
    if scheduler is None:
        yield
        return
    from joblib import parallel_config

    from svhn_api.cluster import connected

    with connected(scheduler), parallel_config(backend="dask"):
        yield


def process_archive(archive: Path, name: str, part: Path, *, mode: CropMode = "union", jobs: int = -1,
                    archive_md5: str = "", progress: bool = True, on_progress: Progress | None = None,
                    scheduler: str | None = None) -> Path:
    """Preprocess every image of one archive into ``part`` (an HDF5 file with the store's row datasets).

    ``on_progress(stage, done, total)`` is called after each chunk, e.g. to drive a progress bar in a UI.
    ``scheduler``: a Dask scheduler address; the chunks then run on that cluster's workers (joblib's Dask
    backend), in the same order, so the part file is the same bytes.
    """
    from tqdm import tqdm

    from svhn_api.data.archives import unpacked
    from svhn_api.data.preprocess import crop_mode

    mode = crop_mode(mode)
    key = _part_key(archive_md5, mode)
    if part.is_file():
        try:
            with h5py.File(part, "r") as f:
                if f.attrs.get("key") == key and f.attrs.get("complete"):
                    return part
        except OSError:
            pass
    part.parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=archive.stat().st_size, desc=f"unpack {name}", unit="B", unit_scale=True,
              disable=not progress, leave=False) as bar, \
            unpacked(archive, part.with_name(part.name + ".tar"), on_bytes=bar.update) as source:
        return _write_part(source, name, part, mode, key, archive_md5, jobs=jobs, progress=progress,
                           on_progress=on_progress, scheduler=scheduler)


def _records(source: Unpacked) -> list[ImageRecord]:
    """The records of an unpacked archive's ``digitStruct.mat``; ``ArchiveError`` naming the archive if unreadable."""
    from svhn_api.data.digitstruct import read_digitstruct

    try:
        return read_digitstruct(io.BytesIO(source.read(source.member("digitStruct.mat"))))
    except ArchiveError:
        raise
    except Exception as e:
        why = str(e).removesuffix(f" {DIGITSTRUCT_FIX}")
        raise ArchiveError(f"{source.archive}: its digitStruct.mat is unreadable ({why}); {ARCHIVE_FIX}.") from e


def _add_rows(rows: ChunkAligned, chunk: list[Cropped | LeftOut], name: str) -> list[dict[str, str]]:
    """The images of ``chunk`` (``_process_chunk``'s results for archive ``name``) added as store rows; the
    left-out ones, with their reasons, returned."""
    ok = [r for r in chunk if isinstance(r, Cropped)]
    if ok:
        rows.add({
            "images": np.stack([r.image for r in ok]),
            "labels": np.stack([r.labels for r in ok]),
            "lengths": np.array([r.labels[0] for r in ok], dtype=np.int8),
            "boxes": np.stack([box_array(r.boxes) for r in ok]),
            "sizes": np.array([r.size for r in ok], dtype=np.int32),
            "filenames": np.array([r.filename for r in ok], dtype=object),
            "sources": np.array([name] * len(ok), dtype=object),
            "split": np.zeros(len(ok), dtype=np.uint8),
        })
    return [{"archive": name, "filename": r.filename, "reason": r.reason} for r in chunk if isinstance(r, LeftOut)]


def _write_part(source: Unpacked, name: str, part: Path, mode: CropMode, key: str, archive_md5: str, *, jobs: int,
                progress: bool, on_progress: Progress | None, scheduler: str | None) -> Path:
    """The part file of an unpacked archive. Local workers read their images from the unpacked tar
    themselves; a cluster's workers, which may not see this disk, are sent the images' bytes."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    from svhn_api.data.preprocess import CROP_SHAPES

    records = _records(source)
    boxes_by_name = {r.filename: list(r.boxes) for r in records}
    images = source.images()
    names = [PurePosixPath(m.name).name for m in images]
    seen = set(names)
    local = scheduler is None
    items = ((fname, (m.offset, m.size) if local else source.read(m), boxes_by_name.get(fname))
             for fname, m in zip(names, images, strict=True))
    tar_path = str(source.tar) if local else None
    left_out: list[dict[str, str]] = []
    done = 0
    bar = tqdm(total=len(records), desc=f"prepare {name}", unit="img", disable=not progress, leave=True)
    try:
        with atomic_path(part) as tmp, h5py.File(tmp, "w") as f, _cluster(scheduler):
            create_datasets(f, CROP_SHAPES[mode], compress_images=False)
            rows = ChunkAligned(f)
            chunks = _chunks(items, TASK_IMAGES)
            if jobs == 1 and scheduler is None:
                results: Iterable[list[Cropped | LeftOut]] = (_process_chunk(c, mode, tar_path) for c in chunks)
            else:
                parallel = Parallel(n_jobs=-1 if scheduler else jobs, return_as="generator")
                results = parallel(delayed(_process_chunk)(c, mode, tar_path) for c in chunks)
            for chunk in results:
                left_out += _add_rows(rows, chunk, name)
                bar.update(len(chunk))
                done += len(chunk)
                if on_progress is not None:
                    on_progress(f"prepare {name}", done, len(records))
            rows.flush()
            left_out += [{"archive": name, "filename": r.filename, "reason": "listed in digitStruct.mat, "
                          "no image in the archive"} for r in records if r.filename not in seen]
            f.attrs["left_out"] = json.dumps(left_out)
            f.attrs["archive_md5"] = archive_md5
            f.attrs["key"] = key
            f.attrs["complete"] = True
    finally:
        bar.close()
    return part


def _validation_rows(n_train: int, n_extra: int, size: int, seed: int) -> np.ndarray:
    """Seeded sample of train+extra row numbers (train rows first, then extra) held out for validation.

    At most a tenth of the rows are held out, so a small synthetic sample keeps most of its rows for training.
    """
    total = n_train + n_extra
    size = min(size, total // 10)
    return np.sort(np.random.default_rng(seed).choice(total, size=size, replace=False))


def _copy_rows(dst: h5py.File, parts: list[h5py.File], rows: np.ndarray, split_code: int) -> None:
    """Append global rows (indexing the concatenation of ``parts``) to ``dst``, a chunk at a time."""
    offsets = np.cumsum([0] + [p["images"].shape[0] for p in parts])
    for i in range(0, len(rows), CHUNK_ROWS * 8):
        sel = rows[i:i + CHUNK_ROWS * 8]
        batch: dict[str, list[np.ndarray]] = {}
        for k, p in enumerate(parts):
            local = sel[(sel >= offsets[k]) & (sel < offsets[k + 1])] - offsets[k]
            if not len(local):
                continue
            for name in SPLIT_FREE_FIELDS:
                batch.setdefault(name, []).append(_take(p[name], local))
        out = {n: np.concatenate(v) for n, v in batch.items()}
        out["split"] = np.full(len(sel), split_code, dtype=np.uint8)
        append_rows(dst, out)


def _take(ds: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """``ds[rows]`` for sorted ``rows``: one contiguous read and a NumPy selection where the rows are dense
    (the train split: everything but a sample), h5py's point selection, far slower per row, where sparse."""
    first, last = int(rows[0]), int(rows[-1]) + 1
    if last - first <= 4 * len(rows):
        return ds[first:last][rows - first]
    return ds[rows]


def assemble(parts: dict[str, Path], out: Path, *, mode: str, validation_size: int, seed: int,
             checksums: dict[str, str], source: str = "unofficial", verified: bool | None = None) -> dict[str, int]:
    """Write the final store from the part files: train (+extra) minus validation, validation, test."""
    from svhn_api.data.preprocess import CROP_SHAPES, crop_mode

    mode = crop_mode(mode)
    files = {k: h5py.File(p, "r") for k, p in parts.items()}
    try:
        pool = [files[k] for k in ("train", "extra") if k in files]
        n_pool = sum(p["images"].shape[0] for p in pool)
        sizes = [p["images"].shape[0] for p in pool] + [0, 0]
        val = _validation_rows(sizes[0], sizes[1] if len(pool) > 1 else 0, validation_size, seed)
        train = np.setdiff1d(np.arange(n_pool), val)
        counts = {}
        with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
            create_datasets(f, CROP_SHAPES[mode])
            for code, (split, rows, src) in enumerate(
                    [("train", train, pool), ("validation", val, pool),
                     ("test", np.arange(files["test"]["images"].shape[0]) if "test" in files else np.arange(0),
                      [files["test"]] if "test" in files else [])]):
                if len(rows):
                    _copy_rows(f, src, rows, code)
                counts[split] = len(rows)
            left_out = [item for p in files.values() for item in json.loads(p.attrs["left_out"])]
            write_attrs(f, StoreAttrs(crop=mode, split_ranges=split_ranges(counts), version=__version__,
                                      archives=dict(checksums), left_out=left_out,
                                      validation_seed=seed, source=source, verified=verified))
    finally:
        for f in files.values():
            f.close()
    return counts


def prepare(archives: str | Path | None = None, *, source: str = "official",
            splits: Sequence[str] | None = None, crop: CropMode = "union", jobs: int = -1,
            out: str | Path | None = None, validation_size: int = 6000, seed: int = 0,
            download: bool = True, verify: bool = True, progress: bool = True,
            on_progress: Progress | None = None, scheduler: str | None = None) -> PrepareSummary:
    """Build the prepared store from the official SVHN archives (``source="official"``, downloaded into
    ``archives`` when missing) or from the embedded synthetic sample (``source="synthetic"``, rendered on
    first use). Returns a summary: path, counts per split, left-out items with reasons, seconds.
    Default locations (archives, the synthetic sample, the output store) come from ``svhn_api.paths``
    (``$SVHN_DATA``). The same inputs always give a store with the same bytes (no timestamps inside).
    ``splits``: which archives (default: train, extra and test; with ``verify=False``, those of them in
    ``archives``, e.g. only ``test.tar.gz``).
    ``crop``: one of ``preprocess.CROP_MODES`` (``"union"``, ``"capstone"``, ``"photo"``, ``"scene"``; what each
    holds: ``preprocess.CROP_MEANINGS``). ``on_progress(stage, done, total)`` reports progress to a UI; the CLI
    uses tqdm bars instead.
    ``verify=False`` prepares your own archives in the official layout (e.g. a subset): their size/MD5 are
    not checked against the official (or manifest) ones, nothing is downloaded and nothing is written into
    ``archives``, but every member is still checked (``ArchiveError`` for absolute paths, ``..``, links,
    devices); the store records ``source="unverified"``, ``verified=False`` and the archives' actual MD5s.
    ``scheduler``: a Dask scheduler address (``tcp://HOST:PORT``): the images are preprocessed on that
    cluster's workers (the archives are read here and sent in chunks); the store is the same bytes as a
    local run's.
    """
    from svhn_api.data.download import archives_source, ensure_archives, expected_md5, file_md5
    from svhn_api.data.preprocess import crop_mode

    t0 = time.perf_counter()
    crop = crop_mode(crop)   # a ValueError naming the choices for any other string
    if splits is not None and (not splits or any(s not in ARCHIVE_NAMES for s in splits)):
        raise ValueError(f"splits {list(splits)}: choose among {', '.join(ARCHIVE_NAMES)}")
    folder, splits, download, default_out = _source(source, archives, splits, crop, seed, jobs, download, verify,
                                                    progress, on_progress)
    out = Path(out) if out else default_out
    try:
        paths = ensure_archives(folder, tuple(splits), download=download, progress=progress, verify=verify)
    except ArchiveError as e:
        raise ArchiveError(f"{e}{'' if verify else _only_these(folder)}") from None
    parts_dir = out.with_name(out.name + ".parts")
    parts, checksums = {}, {}
    try:
        for name in splits:
            checksums[name] = expected_md5(folder, name) if verify else file_md5(paths[name], progress=progress)
            try:
                parts[name] = process_archive(paths[name], name, parts_dir / f"{name}.h5", mode=crop, jobs=jobs,
                                              archive_md5=checksums[name], progress=progress,
                                              on_progress=on_progress, scheduler=scheduler)
            except ArchiveError as e:
                raise (e if verify else for_own_archive(e)) from None
    finally:
        with contextlib.suppress(OSError):  # no finished part to resume from: no empty folder left behind
            parts_dir.rmdir()
    counts = assemble(parts, out, mode=crop, validation_size=validation_size, seed=seed, checksums=checksums,
                      source=archives_source(folder, checksums.values()) if verify else "unverified",
                      verified=verify)
    left_out = []
    for p in parts.values():
        with h5py.File(p, "r") as f:
            left_out += json.loads(f.attrs["left_out"])
    shutil.rmtree(parts_dir, ignore_errors=True)
    return PrepareSummary(str(out), crop, counts, left_out, round(time.perf_counter() - t0, 2), checksums, verify,
                          list(splits))


def _source(source: str, archives: str | Path | None, splits: Sequence[str] | None, crop: str, seed: int,
            jobs: int, download: bool, verify: bool, progress: bool, on_progress: Progress | None,
            ) -> tuple[Path, Sequence[str], bool, Path]:
    """Where ``prepare`` reads from: ``(archives folder, splits, whether to download, the default store)``;
    the synthetic sample is rendered there first when it is missing."""
    if source == "synthetic":
        folder = Path(archives) if archives else synthetic_dir() / "archives"
        splits = splits or ARCHIVE_NAMES
        if not all((folder / f"{s}.tar.gz").is_file() for s in splits):
            from svhn_api.data.synthetic_archives import SAMPLE, synth

            synth(folder, **SAMPLE, seed=seed, jobs=jobs, progress=progress, on_progress=on_progress)
        return folder, splits, False, synthetic_dir() / f"synthetic_{crop}.h5"
    if source == "official":
        folder = Path(archives) if archives else archives_dir()
        if splits is None:   # your own archives: those in the folder (none there: the error names all three)
            splits = (not verify and _splits_in(folder)) or ARCHIVE_NAMES
        return folder, splits, download, data_dir() / f"svhn_{crop}.h5"
    raise ValueError(f"source {source!r}: choose 'official' or 'synthetic'")


def _splits_in(folder: Path) -> tuple[str, ...]:
    """The splits whose archive is in ``folder``."""
    return tuple(s for s in ARCHIVE_NAMES if (folder / f"{s}.tar.gz").is_file())


def _only_these(folder: Path) -> str:
    """For an error about missing archives of one's own: how to prepare only those that are there."""
    found = _splits_in(folder)
    if not found:
        return ""
    return (f" Or prepare only the archive{'s' if len(found) > 1 else ''} that {'are' if len(found) > 1 else 'is'} "
            f"there: pass --splits {','.join(found)} (API: splits={found!r}).")
