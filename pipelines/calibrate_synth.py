"""Measure the layout statistics of real SVHN annotations and write the renderer's ``stats.json``.

Reads only labels, boxes and image sizes (``annotations/{train,test}.json`` of the shared real-SVHN
folder), never pixels. The synthetic *train* and *extra* splits are drawn from the ``train`` section
(calibrated on the 33,402 real train images); the synthetic *test* split from the ``test`` section
(13,068 real test images, which frame the digits with more context). Only the small JSON is committed.

    python -m pipelines.calibrate_synth [--real ../shared/svhn-real] [--out svhn_api/synthetic/stats.json]

Run it from the repository root. ``--real`` defaults to ``$SVHN_REAL``, ``--out`` to the file the renderer
reads (``svhn_api.synthetic.layout.stats_path()``, i.e. ``svhn_api/synthetic/stats.json`` in a checkout).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from svhn_api import paths
from svhn_api.atomic import atomic_path
from svhn_api.synthetic.layout import stats_path

# Quantile levels shared by every distribution; sampling interpolates the inverse CDF between them.
LEVELS = [0.0, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0]
# Image-height buckets for the relative digit height, which shrinks as images grow (Spearman -0.46).
HEIGHT_EDGES = [0, 30, 50, 80, 150, 100000]
MAX_LEN = 4  # layouts of 5+ digit numbers (9 train images) reuse the 4-digit rows


def _q(values: Iterable[float], nd: int = 3) -> list[float]:
    return [round(float(v), nd) for v in np.quantile(np.asarray(values, dtype=float), LEVELS)]


def split_stats(records: list[dict[str, Any]], split: str) -> dict[str, Any]:
    """The compact distributions of one split's annotations."""
    lengths = Counter(len(r["boxes"]) for r in records)
    n_img = len(records)
    digit_counts = {n: np.zeros((n, 10)) for n in range(1, MAX_LEN + 1)}
    by_len: dict[int, dict[str, list[float]]] = {
        n: {"h": [], "aspect": []} for n in range(1, MAX_LEN + 1)
    }
    rh_by_bucket: list[list[float]] = [[] for _ in HEIGHT_EDGES[:-1]]
    ar_by_digit: list[list[float]] = [[] for _ in range(10)]
    gaps, dys, cxs, cys, uws = [], [], [], [], []
    for r in records:
        boxes = r["boxes"]
        w_img, h_img = float(r["image_width"]), float(r["image_height"])
        n = min(len(boxes), MAX_LEN)
        by_len[n]["h"].append(h_img)
        by_len[n]["aspect"].append(w_img / h_img)
        digits = [int(b["label"]) % 10 for b in boxes]
        if len(boxes) <= MAX_LEN:
            for pos, d in enumerate(digits):
                digit_counts[n][pos, d] += 1
        bh = float(np.mean([b["height"] for b in boxes]))
        bucket = int(np.searchsorted(HEIGHT_EDGES, h_img, side="right")) - 1
        rh_by_bucket[bucket].append(bh / h_img)
        for b, d in zip(boxes, digits, strict=True):
            ar_by_digit[d].append(b["width"] / b["height"])
        for a, b in zip(boxes, boxes[1:], strict=False):
            gaps.append((b["left"] - (a["left"] + a["width"])) / bh)
            dys.append((b["top"] - a["top"]) / bh)
        left = min(b["left"] for b in boxes)
        right = max(b["left"] + b["width"] for b in boxes)
        top = min(b["top"] for b in boxes)
        bottom = max(b["top"] + b["height"] for b in boxes)
        cxs.append((left + right) / 2 / w_img)
        cys.append((top + bottom) / 2 / h_img)
        uws.append((right - left) / w_img)
    heights = [float(r["image_height"]) for r in records]
    aspects = [r["image_width"] / r["image_height"] for r in records]
    rel_h = [float(np.mean([b["height"] for b in r["boxes"]])) / r["image_height"] for r in records]
    all_digits = Counter(int(b["label"]) % 10 for r in records for b in r["boxes"])
    first = Counter(int(r["boxes"][0]["label"]) % 10 for r in records)
    n_dig = sum(all_digits.values())
    marginals = {  # unconditional targets for the statistics test (not used for sampling)
        "image_height": _q(heights, 1),
        "image_aspect": _q(aspects, 3),
        "rel_digit_height": _q(rel_h, 3),
        "digit_aspect": _q([b["width"] / b["height"] for r in records for b in r["boxes"]], 3),
        "digit_freq": [round(all_digits[d] / n_dig, 4) for d in range(10)],
        "first_digit_freq": [round(first[d] / n_img, 4) for d in range(10)],
    }
    freq = {}
    for n, counts in digit_counts.items():
        # add-one smoothing so that no digit is impossible at any position
        probs = (counts + 1) / (counts + 1).sum(axis=1, keepdims=True)
        freq[str(n)] = [[round(float(p), 4) for p in row] for row in probs]
    max_len = max(lengths)
    return {
        "split": split,
        "images": n_img,
        "length": {str(k): round(lengths[k] / n_img, 5) for k in range(1, max_len + 1)},
        "digit_freq_by_position": freq,
        "image_height_by_length": {str(n): _q(v["h"], 1) for n, v in by_len.items()},
        "aspect_by_length": {str(n): _q(v["aspect"]) for n, v in by_len.items()},
        "rel_digit_height_by_image_height": [_q(v) for v in rh_by_bucket],
        "digit_aspect_by_digit": [_q(v) for v in ar_by_digit],
        "gap": _q(gaps),
        "dy": _q(dys),
        "center_x": _q(cxs),
        "center_y": _q(cys),
        "union_width_rel": _q(uws),
        "marginals": marginals,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=paths.real_svhn_dir(),
                    help="the real-SVHN folder, with annotations/{train,test}.json (default: $SVHN_REAL)")
    ap.add_argument("--out", type=Path, default=stats_path(), help="default: the file the renderer reads")
    args = ap.parse_args(argv)
    ann = args.real / "annotations"
    if not (ann / "train.json").is_file():
        print(f"error: {ann / 'train.json'} not found; pass --real to the real-SVHN folder", file=sys.stderr)
        return 2
    splits: dict[str, dict[str, Any]] = {}
    out = {
        "about": "Layout statistics of real SVHN annotations (labels/boxes/sizes only) for svhn_api.synth. "
        "Written by pipelines/calibrate_synth.py. Each list is the values at 'levels' quantiles.",
        "levels": LEVELS,
        "height_edges": HEIGHT_EDGES,
        "splits": splits,
    }
    for split in ("train", "test"):
        path = ann / f"{split}.json"
        if path.is_file():
            with open(path) as fh:
                splits[split] = split_stats(json.load(fh), split)
    text = json.dumps(out, separators=(",", ":"))
    with atomic_path(args.out) as tmp:
        tmp.write_text(text + "\n")
    print(f"wrote {args.out} ({len(text)} bytes) from {', '.join(splits)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
