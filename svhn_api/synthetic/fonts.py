"""Typefaces for the synthetic house numbers: TTF/OTF files shipped inside the installed ``font-*``
Python packages (never system font folders), plus a jittered single-stroke "painted" digit font.

Glyphs are rendered once per process at a reference ink height and cached as uint8 masks.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from svhn_api.errors import SVHNError

REF = 64  # ink height, in pixels, of the digit '0' in every cached glyph

# package -> (category, weight of the family when a typeface is drawn)
FAMILIES: dict[str, tuple[str, float]] = {
    "font_roboto": ("sans", 1.0),
    "font_lato": ("sans", 0.8),
    "font_source_sans_pro": ("sans", 0.8),
    "font_hanken_grotesk": ("sans", 0.6),
    "font_manrope": ("sans", 0.6),
    "font_rhd": ("sans", 0.7),
    "font_fredoka_one": ("rounded", 0.5),
    "font_fjallaone": ("condensed", 0.9),
    "font_amatic_sc": ("hand", 0.35),
    "font_intuitive": ("hand", 0.4),
    "font_source_serif_pro": ("serif", 1.7),
    "font_caladea": ("serif", 1.4),
}
PAINTED_WEIGHT = 1.3  # family weight of the stroke font (hand-painted digits)


@dataclass(frozen=True)
class Face:
    path: str
    family: str
    category: str
    weight: float
    italic: bool


@dataclass(frozen=True)
class Glyph:
    mask: np.ndarray  # uint8 coverage, cropped to the ink
    top: float  # ink top relative to the top of the '0' ink, in pixels at REF scale


def _style_weight(stem: str) -> float:
    s = stem.lower()
    w = 1.0
    if "thin" in s or "extralight" in s:
        w *= 0.1
    elif "light" in s:
        w *= 0.35
    if _is_italic(stem):
        w *= 0.45
    return w


def _is_italic(stem: str) -> bool:
    last = stem.split("-")[-1].lower()
    return "italic" in last or last.endswith("it")


@lru_cache(maxsize=1)
def faces() -> tuple[Face, ...]:
    """All usable typefaces, in a fixed order (sorted by path) so that sampling is reproducible."""
    found: list[Face] = []
    for pkg, (cat, fam_w) in sorted(FAMILIES.items()):
        if importlib.util.find_spec(pkg) is None:
            continue
        root = Path(str(importlib.resources.files(pkg))) / "files"
        files = sorted(root.glob("*.ttf")) + sorted(root.glob("*.otf"))
        stems: dict[str, Path] = {}
        for f in files:  # prefer .ttf when a style ships in both formats
            if "variable" not in f.stem.lower():
                stems.setdefault(f.stem, f)
        if not stems:
            continue
        ws = {s: _style_weight(s) for s in stems}
        total = sum(ws.values())
        for stem in sorted(stems):
            found.append(Face(str(stems[stem]), pkg, cat, fam_w * ws[stem] / total, _is_italic(stem)))
    if not found:
        raise SVHNError(
            "no font packages found for the synthetic renderer; install them with "
            "`pip install -r requirements.txt` (font-roboto, font-source-serif-pro, ...)"
        )
    return tuple(found)


def face_weights(ink_aspect: float | None = None) -> np.ndarray:
    """Sampling weights over ``faces()`` followed by one entry for the painted stroke font.

    With ``ink_aspect`` (wanted digit ink width / height), faces whose digits are about that wide are
    favoured, so narrow real boxes come from condensed faces rather than from squeezing wide ones.
    """
    w = np.array([f.weight for f in faces()] + [PAINTED_WEIGHT], dtype=float)
    if ink_aspect is not None:
        nat = face_aspects()
        w = w * np.exp(-((np.log(nat) - np.log(max(ink_aspect, 0.05))) ** 2) / (2 * 0.3**2))
    return w / w.sum()


@cache
def stroke_width(idx: int) -> float:
    """Typical stroke width of face ``idx`` in pixels at REF scale (2 * ink area / ink perimeter)."""
    widths = []
    for ch in "0148":
        m = glyph(idx, ch).mask >= 128
        p = np.pad(m, 1)
        inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
        edge = int((m & ~inner).sum())
        widths.append(2.0 * m.sum() / max(1, edge))
    return float(np.median(widths))


@lru_cache(maxsize=1)
def face_aspects() -> np.ndarray:
    """Median ink width / height of the digits 0-9 of every face (and ~0.62 for the painted font)."""
    out = []
    for i in range(len(faces())):
        out.append(np.median([glyph(i, str(d)).mask.shape[1] / REF for d in range(10)]))
    return np.array(out + [0.62])


@cache
def _font(idx: int) -> ImageFont.FreeTypeFont:
    path = faces()[idx].path
    probe = ImageFont.truetype(path, 100)
    x0, y0, x1, y1 = probe.getbbox("0")
    size = max(8, round(100 * REF / max(1, y1 - y0)))
    return ImageFont.truetype(path, size)


@cache
def _zero_top(idx: int) -> int:
    return int(_font(idx).getbbox("0")[1])


@lru_cache(maxsize=4096)
def glyph(idx: int, ch: str) -> Glyph:
    """The cached ink mask of ``ch`` in face ``idx`` (the '0' of every face is REF pixels tall)."""
    font = _font(idx)
    x0, y0, x1, y1 = (int(v) for v in font.getbbox(ch))
    pad = 4
    img = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 0)
    ImageDraw.Draw(img).text((pad - x0, pad - y0), ch, font=font, fill=255)
    box = img.getbbox()
    if box is None:
        return Glyph(np.zeros((1, 1), np.uint8), 0.0)
    mask = np.asarray(img.crop(box))
    top = y0 - pad + box[1] - _zero_top(idx)
    return Glyph(mask, float(top))


# ---- painted single-stroke digits --------------------------------------------------------------
# Strokes in a unit box (x to the right in [0, 0.6], y down in [0, 1]); each stroke is smoothed with a
# Catmull-Rom spline unless it has only two points.
_S6 = [(0.5, 0.04), (0.3, 0.0), (0.12, 0.12), (0.04, 0.4), (0.04, 0.7), (0.12, 0.92), (0.3, 1.0),
       (0.48, 0.93), (0.56, 0.74), (0.5, 0.55), (0.3, 0.47), (0.12, 0.53), (0.05, 0.66)]
_ELL = [(0.3 + 0.27 * np.cos(t), 0.5 + 0.5 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 13)]
STROKES: dict[str, list[list[tuple[float, float]]]] = {
    "0": [_ELL],
    "1": [[(0.1, 0.2), (0.32, 0.0)], [(0.32, 0.0), (0.32, 1.0)]],
    "2": [[(0.04, 0.24), (0.12, 0.07), (0.3, 0.0), (0.48, 0.07), (0.56, 0.24), (0.5, 0.43), (0.3, 0.66),
           (0.03, 1.0)], [(0.03, 1.0), (0.58, 1.0)]],
    "3": [[(0.05, 0.1), (0.25, 0.0), (0.47, 0.05), (0.55, 0.22), (0.45, 0.4), (0.25, 0.46), (0.47, 0.53),
           (0.58, 0.72), (0.52, 0.9), (0.3, 1.0), (0.04, 0.92)]],
    "4": [[(0.44, 1.0), (0.44, 0.0)], [(0.44, 0.0), (0.02, 0.7)], [(0.02, 0.7), (0.6, 0.7)]],
    "5": [[(0.55, 0.0), (0.1, 0.0)], [(0.1, 0.0), (0.06, 0.45)],
          [(0.06, 0.45), (0.25, 0.38), (0.45, 0.42), (0.57, 0.6), (0.55, 0.82), (0.4, 0.97), (0.2, 1.0),
           (0.03, 0.9)]],
    "6": [_S6],
    "7": [[(0.02, 0.0), (0.58, 0.0)], [(0.58, 0.0), (0.32, 0.5), (0.2, 1.0)]],
    "8": [[(0.3, 0.46), (0.1, 0.36), (0.07, 0.18), (0.15, 0.04), (0.3, 0.0), (0.45, 0.04), (0.53, 0.18),
           (0.5, 0.36), (0.3, 0.46), (0.08, 0.58), (0.03, 0.78), (0.12, 0.95), (0.3, 1.0), (0.48, 0.95),
           (0.57, 0.78), (0.52, 0.58), (0.3, 0.46)]],
    "9": [[(0.6 - x, 1.0 - y) for x, y in _S6]],
}


def _catmull(pts: np.ndarray, per: int = 6) -> np.ndarray:
    if len(pts) < 3:
        return pts
    p = np.vstack([pts[0], pts, pts[-1]])
    t = np.linspace(0, 1, per, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    out.append(pts[-1:])
    return np.vstack(out)


def painted_glyph(ch: str, rng: np.random.Generator, width_frac: float, slant: float) -> Glyph:
    """A hand-painted looking digit: jittered strokes of relative width ``width_frac`` of REF."""
    w = max(2, int(round(width_frac * REF)))
    pad = w + 2
    scale_x = REF * rng.uniform(0.85, 1.15)
    size = (int(0.6 * scale_x + 2 * pad + abs(slant) * REF), REF + 2 * pad)
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    jit = rng.uniform(0.005, 0.03)
    for stroke in STROKES[ch]:
        pts = np.asarray(stroke, dtype=float)
        pts = pts + rng.normal(0, jit, pts.shape)
        if len(stroke) > 2 and np.allclose(stroke[0], stroke[-1]):
            pts[-1] = pts[0]
        curve = _catmull(pts)
        xs = pad + curve[:, 0] * scale_x + slant * (1 - curve[:, 1]) * REF
        ys = pad + curve[:, 1] * REF
        xy = list(zip(xs.tolist(), ys.tolist(), strict=True))
        draw.line(xy, fill=255, width=w, joint="curve")
        r = w / 2
        for x, y in (xy[0], xy[-1]):
            draw.ellipse((x - r + 0.5, y - r + 0.5, x + r - 0.5, y + r - 0.5), fill=255)
    box = img.getbbox() or (0, 0, img.width, img.height)
    mask = np.asarray(img.crop(box))
    return Glyph(mask, float(box[1] - pad - (w - 1) / 2))
