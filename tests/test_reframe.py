"""Re-framing (``pipelines.reframe``): a photo placed smaller in a canvas of clutter, its number at the chosen share
of the height and with fewer pixels (the canvas shrinks back to the photo's size), the box moved with it;
strips cut around a number never hold it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.reframe import MIN_STRIP, strips, zoom_out


def _photo(seed: int, w: int = 80, h: int = 40) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_strips_are_the_parts_around_the_number():
    photo = _photo(0)
    parts = strips(photo, (30.0, 10.0, 20.0, 20.0))     # number at x 30-50, y 10-30 of an 80x40 photo
    assert [p.shape[:2] for p in parts] == [(40, 28), (40, 28)]   # above and below: under MIN_STRIP high
    assert all(p.shape[0] >= MIN_STRIP and p.shape[1] >= MIN_STRIP for p in parts)
    arr = np.asarray(photo)
    assert np.array_equal(parts[0], arr[:, :28]) and np.array_equal(parts[1], arr[:, 52:])


def test_zoom_out_puts_the_number_at_the_share_asked_for():
    yy, xx = np.mgrid[0:40, 0:80]
    smooth = np.stack([xx * 3, yy * 6, 255 - xx * 3], axis=-1).astype(np.uint8)   # resamples predictably
    photo, box = Image.fromarray(smooth), (30.0, 10.0, 20.0, 20.0)    # the number is half the photo's height
    filler = strips(_photo(2), (0.0, 0.0, 10.0, 10.0)) + strips(_photo(3), (60.0, 20.0, 10.0, 10.0))
    canvas, moved = zoom_out(photo, box, 0.2, filler, np.random.default_rng(0))
    assert canvas.size == photo.size                       # as a camera farther away: the same photo size
    assert moved[2:] == pytest.approx((8.0, 8.0))          # 2.5x smaller: 8 px of 40 = 0.2
    assert moved[3] / canvas.height == pytest.approx(0.2)
    ox, oy = round(moved[0] - box[0] / 2.5), round(moved[1] - box[1] / 2.5)   # where the photo landed, shrunk
    shrunk = np.asarray(photo.resize((32, 16), Image.BILINEAR), dtype=float)
    inner = np.asarray(canvas, dtype=float)[oy + 1:oy + 15, ox + 1:ox + 31]
    assert np.abs(inner - shrunk[1:15, 1:31]).mean() < 8      # the photo, 2.5x smaller (edges blend)
    assert (np.asarray(canvas).reshape(-1, 3) != 0).any(axis=1).mean() > 0.99   # filled: no black canvas left


def test_zoom_out_keeps_a_photo_already_framed_that_small():
    photo, box = _photo(4), (30.0, 10.0, 20.0, 8.0)     # 0.2 of the height
    canvas, moved = zoom_out(photo, box, 0.3, [], np.random.default_rng(0))
    assert canvas is photo and moved == box
    with pytest.raises(ValueError, match="filler"):
        zoom_out(photo, box, 0.1, [], np.random.default_rng(0))


def test_zoomed_out_copies_move_and_shrink_every_digit_box_with_the_number(tmp_path):
    """``pipelines.whole_photo.zoomed_out``: in each copy the digit boxes still cover the drawn digits (bright
    strokes on a dark background, blurred by the shrinking), now a fifth of the photo's height, at the photo's
    own size."""
    import json

    from pipelines.whole_photo import zoomed_out
    from tests.conftest import draw_number

    rng = np.random.default_rng(5)
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "annotations").mkdir()
    train, names = [], []
    for i, number in enumerate(("27", "4096", "381")):
        img, boxes = draw_number(number, rng)
        name = f"{i + 1}.png"
        img.save(tmp_path / "images" / "train" / name)
        names.append(name)
        train.append({"filename": name, "number": number, "image_width": img.width, "image_height": img.height,
                      "boxes": [{"label": b.label, "left": b.left, "top": b.top, "width": b.width,
                                 "height": b.height} for b in boxes]})
    (tmp_path / "annotations" / "train.json").write_text(json.dumps(train))
    test = [{"filename": "1.png", "image_height": 100, "boxes": [{"top": 40, "height": 20}]}]   # share 0.2
    (tmp_path / "annotations" / "test.json").write_text(json.dumps(test))

    for (name, canvas, boxes), original in zip(zoomed_out(tmp_path, names, 1, seed=0), train, strict=True):
        assert name == original["filename"] and canvas.size == (original["image_width"], original["image_height"])
        top, bottom = min(b.top for b in boxes), max(b.top + b.height for b in boxes)
        assert (bottom - top) / canvas.height == pytest.approx(0.2, abs=0.02)
        pixels = np.asarray(canvas.convert("L"), dtype=float)
        for b in boxes:   # the digit's own box holds its strokes: bright against the background around them
            inside = pixels[int(b.top):int(np.ceil(b.top + b.height)), int(b.left):int(np.ceil(b.left + b.width))]
            assert inside.max() - inside.min() > 40, (name, b)
