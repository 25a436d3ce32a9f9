"""Shared fixtures: everything a test needs is generated here; ../shared is only used by optional checks."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image, ImageDraw

from svhn_api.data.preprocess import CROP_SHAPES, crop, crop_mode
from svhn_api.data.store import (
    ROW_FIELDS,
    SPLITS,
    StoreAttrs,
    append_rows,
    box_array,
    create_datasets,
    split_ranges,
    write_attrs,
)
from svhn_api.labels import boxes_to_row
from svhn_api.records import DigitBox

SHARED = Path(__file__).resolve().parents[2] / "shared" / "svhn-real"


def need_shared() -> Path:
    """The real SVHN pieces beside the checkout, or skip the calling test."""
    if not SHARED.is_dir():
        pytest.skip(f"optional check: real SVHN material not found at {SHARED}")
    return SHARED


def draw_number(number: str, rng: np.random.Generator) -> tuple[Image.Image, list[DigitBox]]:
    """A plain photo-like image of ``number`` with one box per digit (PIL's default bitmap font, scaled)."""
    glyph_w, glyph_h = 12, 20
    margin_x, margin_y = int(rng.integers(4, 20)), int(rng.integers(4, 12))
    w, h = margin_x * 2 + glyph_w * len(number), margin_y * 2 + glyph_h
    bg = tuple(int(v) for v in rng.integers(0, 120, 3))
    fg = tuple(int(v) for v in rng.integers(160, 256, 3))
    img = Image.new("RGB", (w, h), bg)
    boxes = []
    for i, ch in enumerate(number):
        tile = Image.new("L", (6, 10), 0)
        ImageDraw.Draw(tile).text((0, -1), ch, fill=255)
        tile = tile.resize((glyph_w, glyph_h), Image.NEAREST)
        x = margin_x + i * glyph_w
        img.paste(Image.new("RGB", tile.size, fg), (x, margin_y), tile)
        boxes.append(DigitBox(10 if ch == "0" else int(ch), float(x), float(margin_y), float(glyph_w), float(glyph_h)))
    return img, boxes


def random_numbers(n: int, rng: np.random.Generator) -> list[str]:
    lengths = rng.choice([1, 2, 3, 4], size=n, p=[0.2, 0.5, 0.25, 0.05])
    return ["".join(str(d) for d in rng.integers(0, 10, k)) for k in lengths]


def make_store(path: Path, counts: dict[str, int], mode: str = "union", seed: int = 0) -> Path:
    """A small prepared store written directly (no archives), with the same datasets and attributes (both
    from ``svhn_api.data.store``'s schema). ``mode`` is a crop mode."""
    rng = np.random.default_rng(seed)
    mode = crop_mode(mode)
    with h5py.File(path, "w") as f:
        create_datasets(f, CROP_SHAPES[mode])
        for code, split in enumerate(SPLITS):
            n = counts.get(split, 0)
            rows: dict[str, list] = {k: [] for k in ROW_FIELDS}
            for i, number in enumerate(random_numbers(n, rng)):
                img, boxes = draw_number(number, rng)
                lab = boxes_to_row(boxes)
                for k, v in (("images", crop(img, boxes, mode)), ("labels", lab), ("lengths", lab[0]),
                             ("boxes", box_array(boxes)), ("sizes", img.size), ("filenames", f"{i + 1}.png"),
                             ("sources", "test" if split == "test" else "train"), ("split", code)):
                    rows[k].append(v)
            if n:
                append_rows(f, {k: np.array(v, dtype=object if k in ("filenames", "sources") else None)
                                for k, v in rows.items()})
        write_attrs(f, StoreAttrs(crop=mode, split_ranges=split_ranges(counts), version="test", created="test",
                                  validation_seed=seed))
    return path


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64x64 union-crop store: 256 train, 64 validation, 64 test rows of drawn numbers."""
    return make_store(tmp_path_factory.mktemp("store") / "tiny.h5", {"train": 256, "validation": 64, "test": 64})
