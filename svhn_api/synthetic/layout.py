"""Sample the layout of one house-number photo (digits, image size, digit size, spacing, position)
from the real-SVHN statistics in ``stats.json`` (written by ``pipelines/calibrate_synth.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

SPLIT_STATS = {"train": "train", "extra": "train", "test": "test"}  # synthetic split -> stats section
STATS_FILE = "stats.json"  # package data of svhn_api.synthetic


def stats_path() -> Path:
    """The statistics file the renderer reads (``pipelines/calibrate_synth.py`` writes it)."""
    return Path(str(resources.files("svhn_api.synthetic").joinpath(STATS_FILE)))


@lru_cache(maxsize=1)
def load_stats() -> dict:
    """The packaged statistics (a few KB of quantiles and frequencies)."""
    with resources.files("svhn_api.synthetic").joinpath(STATS_FILE).open("r") as fh:
        return json.load(fh)


def section(split: str) -> dict:
    stats = load_stats()
    name = SPLIT_STATS.get(split, "train")
    return stats["splits"].get(name) or stats["splits"]["train"]


@dataclass
class Layout:
    digits: list[int]  # 0-9, left to right
    width: int  # output image size in pixels
    height: int
    rel_height: float  # digit box height / image height
    aspects: list[float]  # target box width / height per digit
    gaps: list[float]  # target gap between consecutive boxes / box height
    center: tuple[float, float]  # union-box centre relative to the image
    tilt: float = 1.0  # spread of box-top steps relative to the real train split (scales rotation/jitter)


def _interp(q: list[float], u: float) -> float:
    return float(np.interp(u, load_stats()["levels"], q))


def sample_layout(rng: np.random.Generator, split: str = "train") -> Layout:
    s = section(split)
    lens = np.array([int(k) for k in s["length"]])
    probs = np.array(list(s["length"].values()), dtype=float)
    n = int(rng.choice(lens, p=probs / probs.sum()))
    key = str(min(n, 4))
    rows = s["digit_freq_by_position"][key]
    if n > len(rows):  # 5+ digits: first row of the 4-digit numbers, then later-position rows
        rows = [rows[0]] + [rows[1 + (i % (len(rows) - 1))] for i in range(n - 1)]
    digits = [int(rng.choice(10, p=np.asarray(r) / np.sum(r))) for r in rows[:n]]

    height = int(round(_interp(s["image_height_by_length"][key], rng.random())))
    height = max(12, height)
    aspect = _interp(s["aspect_by_length"][key], rng.uniform(0.002, 0.998))
    width = max(12, int(round(height * aspect)))
    edges = load_stats()["height_edges"]
    bucket = min(len(edges) - 2, int(np.searchsorted(edges, height, side="right")) - 1)
    rel_h = _interp(s["rel_digit_height_by_image_height"][bucket], rng.uniform(0.005, 0.995))
    rel_h = float(np.clip(rel_h, 0.08, 0.97))

    u_ar = rng.random()
    # also shrunk towards each digit's median: the typefaces add their own digit-to-digit spread
    aspects = []
    for d in digits:
        q = s["digit_aspect_by_digit"][d]
        a50 = _interp(q, 0.5)
        a = _interp(q, float(np.clip(u_ar + rng.normal(0, 0.05), 0.01, 0.99)))
        aspects.append(0.97 * (a50 + 0.92 * (a - a50)))  # 0.97: rendering widens boxes ~3% on average
    u_gap = rng.random()
    # shrunk a little towards the median: rounding the rendered boxes to whole pixels adds its own spread
    g50 = _interp(s["gap"], 0.5)
    gaps = [g50 + 0.85 * (_interp(s["gap"], float(np.clip(u_gap + rng.normal(0, 0.1), 0.01, 0.99))) - g50)
            for _ in digits[1:]]
    center = (_interp(s["center_x"], rng.uniform(0.01, 0.99)), _interp(s["center_y"], rng.uniform(0.01, 0.99)))
    tilt = _iqr(s["dy"]) / _iqr(section("train")["dy"])
    return Layout(digits, width, height, rel_h, aspects, gaps, center, tilt)


def _iqr(q: list[float]) -> float:
    return max(1e-3, _interp(q, 0.8) - _interp(q, 0.2))
