"""The whole-photo recipe's backgrounds bank: cut from the real *train* photos of the split only."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from pipelines.whole_photo import background_bank
from svhn_api.synthetic.backgrounds import load_bank


def _real_folder(tmp_path):
    """A folder laid out like ``svhn-real``: three train photos, whose number sits in the middle."""
    root = tmp_path / "svhn-real"
    (root / "images" / "train").mkdir(parents=True)
    (root / "annotations").mkdir()
    entries = []
    for i, colour in enumerate(((200, 30, 30), (30, 200, 30), (30, 30, 200)), 1):
        pixels = np.full((60, 120, 3), colour, np.uint8)
        pixels[20:40, 50:70] = 0                                  # the "number"
        Image.fromarray(pixels).save(root / "images" / "train" / f"{i}.png")
        entries.append({"filename": f"{i}.png", "number": "7", "image_width": 120, "image_height": 60,
                        "boxes": [{"label": 7, "left": 50, "top": 20, "width": 20, "height": 20}]})
    (root / "annotations" / "train.json").write_text(json.dumps(entries))
    return root


def test_the_bank_holds_only_the_train_photos_surroundings(tmp_path):
    real = _real_folder(tmp_path)
    split = {"seed": 0, "train": ["1.png", "3.png"], "validation": ["2.png"]}
    path = background_bank(real, tmp_path / "work", split)
    bank = load_bank(path)
    assert len(bank) == 8                                        # four strips around each train photo's number
    strips = [bank.strip(i).reshape(-1, 3) for i in range(len(bank))]
    assert all((s == s[0]).all() for s in strips)                # one wall colour each: no number pixels
    colours = {tuple(s[0]) for s in strips}
    assert colours == {(200, 30, 30), (30, 30, 200)}             # no validation photo
    assert bank.heights.tolist() == [20.0] * 8
    assert background_bank(real, tmp_path / "work", split) == path   # built once
