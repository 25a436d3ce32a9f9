"""Contact sheets to compare synthetic and real SVHN photos side by side (documentation images).

    python -m pipelines.contact_sheets [--real ../shared/svhn-real] [--n 48] [--seed 0] [--height 0]

Writes ``docs/synth_sheet.png`` (``--n`` synthetic samples of the train split) and, when the real folder
is present, ``docs/real_sheet.png`` (the real train+test photos there). Images are shown at their natural
size (``--height 0``) or scaled to one height; ``--boxes`` draws the digit boxes. Run it from the repository
root (``--out`` defaults to ``docs``, ``--real`` to ``$SVHN_REAL``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from svhn_api import paths
from svhn_api.atomic import atomic_path
from svhn_api.data.images import load_image
from svhn_api.records import DigitBox


def sheet(items: list[tuple[Image.Image, list[DigitBox] | None]], width: int = 1000, height: int = 0,
          gap: int = 4, max_h: int = 160) -> Image.Image:
    """Flow the images into rows ``width`` pixels wide (scaled to ``height``, or natural up to ``max_h``)."""
    tiles = []
    for img, boxes in items:
        s = height / img.height if height else min(1.0, max_h / img.height)
        tile = img.convert("RGB")
        if s != 1.0:
            tile = tile.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.Resampling.BICUBIC)
        if boxes:
            draw = ImageDraw.Draw(tile)
            for b in boxes:
                draw.rectangle((b.left * s, b.top * s, (b.left + b.width) * s - 1, (b.top + b.height) * s - 1),
                               outline=(255, 0, 0))
        tiles.append(tile)
    rows: list[list[Image.Image]] = [[]]
    x = 0
    for t in tiles:
        if rows[-1] and x + t.width > width:
            rows.append([])
            x = 0
        rows[-1].append(t)
        x += t.width + gap
    heights = [max(t.height for t in r) for r in rows]
    out = Image.new("RGB", (width, sum(heights) + gap * (len(rows) - 1)), (255, 255, 255))
    y = 0
    for r, h in zip(rows, heights, strict=True):
        x = 0
        for t in r:
            out.paste(t, (x, y))
            x += t.width + gap
        y += h + gap
    return out


def _save(img: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        img.save(tmp, "PNG")


def main(argv: list[str] | None = None) -> int:
    from svhn_api.synthetic import render_sample

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=paths.real_svhn_dir(), help="default: $SVHN_REAL")
    ap.add_argument("--out", type=Path, default=Path("docs"), help="default: docs (of the repository root)")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="train")
    ap.add_argument("--height", type=int, default=0, help="scale every image to this height (0: natural)")
    ap.add_argument("--boxes", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(args.n):
        img, boxes = render_sample(np.random.default_rng([args.seed, i]), args.split)
        items.append((img, boxes if args.boxes else None))
    _save(sheet(items, height=args.height), args.out / "synth_sheet.png")
    print(f"wrote {args.out / 'synth_sheet.png'}")
    real = [p for s in ("train", "test") for p in sorted((args.real / "images" / s).glob("*.png"),
                                                          key=lambda p: int(p.stem))]
    if real:
        _save(sheet([(load_image(p), None) for p in real], height=args.height), args.out / "real_sheet.png")
        print(f"wrote {args.out / 'real_sheet.png'} from {len(real)} real photos")
    else:
        print(f"no real photos under {args.real / 'images'}: real_sheet.png not written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
