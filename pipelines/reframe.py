"""Re-framing a photo: the same number, smaller in a larger photo, as users' photos frame it.

Real train-split photos frame their number large (median union-box height 0.71 of the photo); test-split and
users' photos smaller (0.53; 30% under 0.4). ``zoom_out`` places a photo in a canvas so that its number takes
a chosen share of the height, and fills the rest with strips of other photos cut around their numbers
(``strips``): real walls, doors, lamps and signs, so the surroundings are clutter, not padding. The canvas
then shrinks back to the photo's own size, as a camera farther away would see it: the number gets fewer
pixels, like a small number in a test-split photo (median 143x55 pixels for test photos 1-130), not the
same pixels in a larger photo.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from svhn_api.boxes import Box
from svhn_api.data.preprocess import RESAMPLE, rgb

GAP = 2                                   # pixels between a number's box and the strips cut around it
MIN_STRIP = 12                            # a strip narrower or lower than this is not kept
MAX_PIECES = 60                           # strips pasted at most to fill one canvas


def strips(photo: Image.Image, box: Box) -> list[np.ndarray]:
    """The parts of ``photo`` left of, right of, above and below its number's ``box`` (RGB arrays), those at
    least ``MIN_STRIP`` pixels each way."""
    img = np.asarray(rgb(photo))
    h, w = img.shape[:2]
    x0, y0 = max(0, int(box[0]) - GAP), max(0, int(box[1]) - GAP)
    x1, y1 = min(w, int(np.ceil(box[0] + box[2])) + GAP), min(h, int(np.ceil(box[1] + box[3])) + GAP)
    parts = (img[:, :x0], img[:, x1:], img[:y0], img[y1:])
    return [p for p in parts if p.shape[0] >= MIN_STRIP and p.shape[1] >= MIN_STRIP]


def zoom_out(photo: Image.Image, box: Box, share: float, filler: Sequence[np.ndarray],
             rng: np.random.Generator) -> tuple[Image.Image, Box]:
    """``photo`` placed at a random spot of a larger canvas (the same aspect) in which its number's ``box``
    is ``share`` of the height; the rest filled with ``filler`` strips at about the photo's scale; the canvas
    resized to the photo's size. A photo whose number is already at most ``share`` of its height comes back
    as it is. Returns the new photo and the number's box in it."""
    photo = rgb(photo)
    w, h = photo.size
    scale = box[3] / h / share
    if scale <= 1.0:
        return photo, box
    if not filler:
        raise ValueError("zoom_out needs filler strips (strips() of other photos)")
    cw, ch = round(w * scale), round(h * scale)
    canvas = Image.new("RGB", (cw, ch))
    empty = np.ones((ch, cw), bool)
    for _ in range(MAX_PIECES):
        if not empty.any():
            break
        piece = filler[int(rng.integers(len(filler)))]
        f = h / piece.shape[0] * rng.uniform(0.5, 1.2)
        pw, ph = max(8, int(piece.shape[1] * f)), max(8, int(piece.shape[0] * f))
        cy, cx = np.argwhere(empty)[int(rng.integers(int(empty.sum())))]
        px, py = int(np.clip(cx - pw // 2, 0, max(0, cw - pw))), int(np.clip(cy - ph // 2, 0, max(0, ch - ph)))
        canvas.paste(Image.fromarray(piece).resize((pw, ph), RESAMPLE), (px, py))
        empty[py:py + ph, px:px + pw] = False
    ox, oy = int(rng.integers(0, cw - w + 1)), int(rng.integers(0, ch - h + 1))
    canvas.paste(photo, (ox, oy))
    fx, fy = w / cw, h / ch
    return canvas.resize((w, h), RESAMPLE), ((box[0] + ox) * fx, (box[1] + oy) * fy, box[2] * fx, box[3] * fy)
