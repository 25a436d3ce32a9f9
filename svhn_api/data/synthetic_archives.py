"""``synth()``: write synthetic train/extra/test archives in the official SVHN layout, in parallel.

The photos come from the renderer (``synthetic.build.iter_items``: each drawn from its own generator seeded
with ``(seed, split, index)``, so an archive does not depend on ``jobs``); they are streamed into
``write_archive``, which writes the PNGs and then ``digitStruct.mat``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from svhn_api.data.archive_writer import write_archive
from svhn_api.data.download import write_manifest
from svhn_api.synthetic.build import SPLITS, Item, iter_items

SAMPLE = {"train": 4000, "extra": 1000, "test": 1000}   # the embedded default dataset: images per split


class _Items:
    """The items of one split with a length, so that the archive writer's progress bar has a total."""

    def __init__(self, split: str, count: int, seed: int, jobs: int):
        self.split, self.count, self.seed, self.jobs = split, count, seed, jobs

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Item]:
        return iter_items(self.split, self.count, seed=self.seed, jobs=self.jobs)


def _renamed(on_progress: Callable[[str, int, int], None], stage: str, _: str, done: int, total: int) -> None:
    on_progress(stage, done, total)


def synth(
    out_dir: str | os.PathLike[str],
    *,
    train: int = SAMPLE["train"],
    extra: int = SAMPLE["extra"],
    test: int = SAMPLE["test"],
    seed: int = 0,
    jobs: int = -1,
    progress: bool = True,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Path]:
    """Write ``out_dir/{train,extra,test}.tar.gz`` (PNGs + ``digitStruct.mat``) and ``manifest.json``.

    Counts are images per split; a split with count 0 is not written. The same ``seed`` gives byte-identical
    images and boxes whatever ``jobs`` is (-1: every core). Returns ``{split: archive path}``.
    ``on_progress(stage, done, total)`` reports the photos rendered, e.g. to a UI ("render train", ...).
    """
    counts = {"train": train, "extra": extra, "test": test}
    for name, n in counts.items():
        if int(n) < 0:
            raise ValueError(f"{name}={n}: image counts must be 0 or more")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for split in SPLITS:
        n = int(counts[split])
        if n == 0:
            continue
        path = out / f"{split}.tar.gz"
        # PNG data does not compress further: the fastest gzip level gives the same size
        report = None if on_progress is None else functools.partial(_renamed, on_progress, f"render {split}")
        write_archive(path, split, _Items(split, n, seed, jobs), progress=progress, compresslevel=1,
                      on_progress=report)
        paths[split] = path
    if paths:
        write_manifest(out, [p.name for p in paths.values()])
    return paths
