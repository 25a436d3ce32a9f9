"""Photos with printed numbers for the scene-text tests, drawn the same way on every machine (a shipped
typeface, fixed positions), and the package's own results on them (``fixtures/rapidocr_1.4.4.json``, made once
by ``python -m tests.scene_text_fixtures --record`` in a virtualenv with rapidocr-onnxruntime 1.4.4)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

EXPECTED = Path(__file__).parent / "fixtures" / "rapidocr_1.4.4.json"
# name: (photo size, background, [(text, left, top, font size, colour)])
SCENES = {
    "plate": ((320, 160), (235, 235, 228), [("1234", 60, 40, 64, (20, 20, 20))]),
    "door": ((400, 240), (120, 90, 60), [("57", 40, 30, 90, (250, 250, 240)), ("209", 250, 160, 40, (250, 250, 240))]),
    "sign": ((360, 200), (30, 60, 120), [("Main", 30, 20, 40, (255, 255, 255)), ("86", 220, 100, 70, (255, 220, 0))]),
}


def font(size: int) -> ImageFont.FreeTypeFont:
    import font_roboto

    files = sorted((Path(font_roboto.__file__).parent / "files").glob("Roboto-Bold*.ttf"))
    return ImageFont.truetype(str(files[0]), size)


def scene(name: str) -> Image.Image:
    size, background, texts = SCENES[name]
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    for text, left, top, points, colour in texts:
        draw.text((left, top), text, font=font(points), fill=colour)
    return img


def record() -> None:
    """The package's text boxes (axis-aligned, at its own defaults) and readings of each scene."""
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    out = {}
    for name in SCENES:
        bgr = np.asarray(scene(name))[:, :, ::-1].copy()
        found, _ = engine(bgr, use_cls=False)
        out[name] = [{"box": [float(min(p[0] for p in q)), float(min(p[1] for p in q)),
                              float(max(p[0] for p in q)), float(max(p[1] for p in q))],
                      "text": text, "score": float(score)} for q, text, score in (found or [])]
    EXPECTED.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__" and "--record" in sys.argv:
    record()
