"""Render one synthetic SVHN-style photo: a house number on a wall, door or plate, with its digit boxes.

Coordinates are continuous: pixel ``i`` spans ``[i, i + 1)``. Digits are laid out on a "plane" at the
reference glyph scale (``fonts.REF``), optionally on a plate; the plane is warped onto a background
canvas by one homography (rotation, shear, perspective, scale, translation) and every digit's box is
computed from its own ink pixels mapped through that same homography, then widened the way SVHN's
annotators drew them (one common height per number, slightly loose). The canvas is rendered larger or
smaller than the output and resized to the output size sampled from the real statistics, then
degraded (light, colour, blur, low resolution, noise, JPEG).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from svhn_api.records import DigitBox
from svhn_api.synthetic import fonts
from svhn_api.synthetic.colours import pick, plate_color, text_color, texture_colors
from svhn_api.synthetic.geometry import apply, choose_sx, homography, ink_points, mask_points, sample_geometry
from svhn_api.synthetic.glyphs import Digit, base_glyphs, make_digits, sample_style
from svhn_api.synthetic.layout import Layout, sample_layout
from svhn_api.synthetic.optics import degrade, shift
from svhn_api.synthetic.scene import background, clutter, pick_kind


@dataclass
class _Number:
    """One number in the plane, before the camera: its digits, the geometry, the box margins."""

    digits: list[Digit]
    geo: dict
    ml: np.ndarray       # left box margins of the digits, as shares of the box height (annotator looseness)
    mr: np.ndarray       # right box margins
    loose_h: float       # how much taller than the ink the boxes are
    hb: float = 0.0      # the tallest digit in plane units, times ``loose_h``
    pw: int = 0          # the plane's size
    ph: int = 0


@dataclass
class _View:
    """The camera: the plane mapped onto a canvas (``M``), the canvas and output sizes, the boxes on it."""

    M: np.ndarray
    W: int
    H: int
    Wc: int
    Hc: int
    fx: float
    fy: float
    k: float
    hb_out: float
    cboxes: np.ndarray
    hbc: float

    @property
    def cunion(self) -> tuple[float, float, float, float]:
        b = self.cboxes
        return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()


@dataclass
class _Paint:
    """The colours of the number: plate (or None), digits and their outline."""

    plate: np.ndarray | None
    text: np.ndarray
    ring: np.ndarray


def render_sample(rng: np.random.Generator, split: str = "train", *, plain: bool = False
                  ) -> tuple[Image.Image, list[DigitBox]]:
    """One RGB photo and its digit boxes (left to right), everything drawn from ``rng``.

    ``split`` picks the statistics (``test`` frames digits with more context). ``plain=True`` keeps
    the layout and every geometric transform but draws black digits on white with no plate, clutter
    or degradation: the tests use it to check that the boxes sit on the ink.
    """
    lay = sample_layout(rng, split)
    style = sample_style(rng, float(np.median(lay.aspects)) - 0.07)
    num = _sized_digits(rng, lay, style)
    extent = _lay_out(rng, num, lay, style)
    main_kind, plate, shape = _frame(rng, num, extent, style, plain)
    view = _view(rng, num, lay)
    canvas, paint = _ground(rng, view, main_kind, plate, style, plain)
    rgb, alpha = _plane(rng, num, style, paint, shape, plain)
    canvas = _composite(rng, canvas, rgb, alpha, num, view, plain)
    img = Image.fromarray((np.clip(canvas, 0, 1) * 255).round().astype(np.uint8), "RGB")
    if plain:
        img = img.resize((view.W, view.H), Image.Resampling.BOX, reducing_gap=None)
    else:
        img = degrade(rng, img, view.W, view.H, view.fx, view.hb_out)
    return img, _output_boxes(lay.digits, view)


def _sized_digits(rng: np.random.Generator, lay: Layout, style: dict) -> _Number:
    """The digits' glyphs, condensed to the sampled aspects and thickened to survive the output size, with
    the annotators' looseness and the camera geometry drawn first (the boxes *after* the transform must
    match the targets)."""
    n = len(lay.digits)
    loose_h = 1.0 + abs(rng.normal(0.03, 0.05))
    ml = np.clip(rng.normal(0.035, 0.035, n), -0.02, 0.15)
    mr = np.clip(rng.normal(0.035, 0.035, n), -0.02, 0.15)
    geo = sample_geometry(rng, lay.tilt)
    lin = geo["lin"]
    base = base_glyphs(rng, lay, style)
    grow = 2 * max(style["bold"], 0) + 2 * style["ring"]
    sx, per = choose_sx(base, lin, lay.aspects, ml, mr, loose_h, grow)
    # strokes thick enough to survive the output size (>= ~1-2 px), and condensing (which thins the
    # vertical strokes) partly made up for, by thickening the glyphs
    stroke = style["stroke_w"] * fonts.REF if style["face"] < 0 else fonts.stroke_width(style["face"])
    need = rng.uniform(1.0, 1.8) * fonts.REF / max(1.0, lay.rel_height * lay.height)
    target = max(need, stroke * min(1.0, sx + 0.25))
    now = stroke * min(1.0, sx) + 2 * style["bold"]
    if now < target:
        style["bold"] = min(8, max(0, style["bold"]) + int(np.ceil((target - now) / 2)))
        grow = 2 * style["bold"] + 2 * style["ring"]
        sx, per = choose_sx(base, lin, lay.aspects, ml, mr, loose_h, grow)
    style["sx"] = sx
    style["sx_digit"] = per
    return _Number(make_digits(rng, base, style), geo, ml, mr, loose_h)


def _lay_out(rng: np.random.Generator, num: _Number, lay: Layout, style: dict
             ) -> tuple[float, float, float, float]:
    """The digits placed in the plane so that their transformed boxes have the sampled real gaps; returns the
    ink's extent ``(x0, x1, y0, y1)`` in the plane."""
    digits, lin, ml, mr = num.digits, num.geo["lin"], num.ml, num.mr
    pts = [mask_points(d.ink) for d in digits]
    loc = [p @ lin.T for p in pts]  # transformed ink, before each digit's own offset
    hbox = max(q[:, 1].max() - q[:, 1].min() for q in loc) * num.loose_h
    num.hb = hb = max(d.ink.shape[0] for d in digits) * num.loose_h  # plane units for plate margins and jitter
    ys = [d.top + rng.normal(0, style["vjit"] * lay.tilt) * hb for d in digits]
    xs = [0.0]
    for i in range(len(digits) - 1):
        right = loc[i][:, 0].max() + lin[0, 0] * xs[i] + lin[0, 1] * ys[i] + mr[i] * hbox
        want_left = right + lay.gaps[i] * hbox + ml[i + 1] * hbox  # where the next ink must start
        x_next = (want_left - loc[i + 1][:, 0].min() - lin[0, 1] * ys[i + 1]) / lin[0, 0]
        # digits never touch: an overlap of SVHN boxes means loose boxes, so widen the margins instead
        p_right = xs[i] + pts[i][:, 0].max()
        min_x = p_right + rng.uniform(0.0, 0.05) * hb - pts[i + 1][:, 0].min()
        if x_next < min_x:  # (up to a point; beyond it the gap grows)
            extra = min(0.08, (min_x - x_next) * lin[0, 0] / hbox)
            mr[i] += extra / 2
            ml[i + 1] += extra / 2
            x_next = min_x
        xs.append(float(x_next))
    for d, x, y in zip(digits, xs, ys, strict=True):
        d.x, d.y = x, y
    return (min(d.x for d in digits), max(d.x + d.ink.shape[1] for d in digits),
            min(d.y for d in digits), max(d.y + d.ink.shape[0] for d in digits))


def _frame(rng: np.random.Generator, num: _Number, extent: tuple[float, float, float, float], style: dict,
           plain: bool) -> tuple[str, bool, str | None]:
    """The wall's kind, whether the number sits on a plate and its shape; the plane's margins around the
    ink (``num.pw``, ``num.ph``; the digits moved to whole plane pixels inside them)."""
    x0, x1, y0, y1 = extent
    hb = num.hb
    main_kind = pick_kind(rng)
    plate = style["plate"] and not plain
    if not plate and not plain and main_kind in ("brick", "stone", "tiles") and rng.random() < 0.6:
        plate = True  # numbers on busy masonry are mostly on a plate
    shape = pick(rng, [(3, "rect"), (3, "round"), (1, "ellipse")]) if plate else None
    if plate:
        mx = hb * (rng.uniform(0.35, 0.7) if shape == "ellipse" else rng.uniform(0.12, 0.6))
        my = hb * (rng.uniform(0.25, 0.45) if shape == "ellipse" else rng.uniform(0.08, 0.35))
    else:
        mx = my = 0.1 * hb
    ox, oy = mx - x0 + 2, my - y0 + 2
    for d in num.digits:  # whole plane pixels: the masks are pasted there, and the boxes follow them
        d.x = float(round(d.x + ox))
        d.y = float(round(d.y + oy))
    num.pw = int(np.ceil(x1 - x0 + 2 * mx + 4))
    num.ph = int(np.ceil(y1 - y0 + 2 * my + 4))
    return main_kind, plate, shape


def _view(rng: np.random.Generator, num: _Number, lay: Layout) -> _View:
    """The camera: the plane through its homography, each digit's box from its own transformed ink (widened
    as annotated), then the output size and the canvas it is rendered at, the number placed on it."""
    h0 = homography(num.geo, num.pw / 2, num.ph / 2, num.pw, num.ph)
    inks = [apply(h0, ink_points(d)) for d in num.digits]
    ext = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in inks])
    hbox = float((ext[:, 3] - ext[:, 1]).max() * num.loose_h)
    cyb = (ext[:, 1] + ext[:, 3]) / 2 + rng.normal(0, 0.02, len(num.digits)) * hbox
    boxes = np.stack([ext[:, 0] - num.ml * hbox, cyb - hbox / 2, ext[:, 2] + num.mr * hbox, cyb + hbox / 2], 1)
    u = np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])
    W, H = lay.width, lay.height
    hb_out = lay.rel_height * H
    uw_out = (u[2] - u[0]) / hbox * hb_out
    if uw_out > 0.96 * W:
        W = int(np.ceil(uw_out / rng.uniform(0.8, 0.96)))
    hc = rng.uniform(20, 46)  # digit height on the canvas: larger outputs are upsampled, hence soft
    s_c = min(hc / hb_out, np.sqrt(1.6e5 / (W * H)))
    Wc, Hc = max(8, int(round(W * s_c))), max(8, int(round(H * s_c)))
    fx, fy = Wc / W, Hc / H
    k = hb_out * fy / hbox
    uwc, uhc = (u[2] - u[0]) * k, (u[3] - u[1]) * k
    cx = float(np.clip(lay.center[0] * Wc, uwc / 2 + 0.01 * Wc, Wc - uwc / 2 - 0.01 * Wc)) if uwc < 0.98 * Wc \
        else Wc / 2
    cy = float(np.clip(lay.center[1] * Hc, uhc / 2, Hc - uhc / 2)) if uhc < Hc else Hc / 2
    tx, ty = cx - k * (u[0] + u[2]) / 2, cy - k * (u[1] + u[3]) / 2
    S = np.array([[k, 0, tx], [0, k, ty], [0, 0, 1]])
    return _View(S @ h0, W, H, Wc, Hc, fx, fy, k, hb_out, boxes * k + [tx, ty, tx, ty], hbox * k)


def _ground(rng: np.random.Generator, view: _View, main_kind: str, plate: bool, style: dict, plain: bool
            ) -> tuple[np.ndarray, _Paint]:
    """The background canvas first, then the colours of the plate and the digits, chosen against what is
    really under them; the scene's clutter last."""
    cunion = view.cunion
    if plate and rng.random() < 0.5:
        main_kind = pick(rng, [(2, "brick"), (2, "flat"), (1, "stucco"), (1, "wood"), (1, "siding"),
                                (1, "stone"), (1, "panels")])
    main_colors = texture_colors(rng, main_kind)
    if plain:
        canvas = np.ones((view.Hc, view.Wc, 3), np.float32)
    else:
        canvas = background(rng, view.Wc, view.Hc, view.hbc, cunion, main_kind, main_colors)
    plate_col = None
    if plate:
        plate_col = plate_color(rng)
        under, spread = plate_col, 0.0
    else:
        xa, ya = int(max(0, cunion[0])), int(max(0, cunion[1]))
        xb, yb = int(min(view.Wc, cunion[2] + 1)), int(min(view.Hc, cunion[3] + 1))
        patch = canvas[ya:yb, xa:xb].reshape(-1, 3)
        under = patch.mean(0) if len(patch) else canvas.reshape(-1, 3).mean(0)
        spread = float((patch @ np.array([0.299, 0.587, 0.114], np.float32)).std()) if len(patch) else 0.0
    txt = text_color(rng, under, spread) if not plain else np.zeros(3, np.float32)
    if style["ring"] and not plain:  # outline: contrasting with the digit, or with the ground if hollow
        ring_col = text_color(rng, under, spread) if style["hollow"] else text_color(rng, txt)
    else:
        ring_col = txt
    if not plain:
        clutter(rng, canvas, view.hbc, cunion, txt, style["face"])
    return canvas, _Paint(plate_col, txt, ring_col)


def _plane(rng: np.random.Generator, num: _Number, style: dict, paint: _Paint, shape: str | None, plain: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """The plane as RGB and alpha: plate and digits (transparent parts carry the nearest colour: no fringes)."""
    pw, ph = num.pw, num.ph
    fill_a = np.zeros((ph, pw), np.float32)
    ring_a = np.zeros((ph, pw), np.float32)
    for d in num.digits:
        xi, yi = int(d.x), int(d.y)
        hh, ww = d.fill.shape
        fill_a[yi:yi + hh, xi:xi + ww] = np.maximum(fill_a[yi:yi + hh, xi:xi + ww], d.fill / 255.0)
        if d.ring is not None:
            ring_a[yi:yi + hh, xi:xi + ww] = np.maximum(ring_a[yi:yi + hh, xi:xi + ww], d.ring / 255.0)
    ring_a = ring_a * (1 - fill_a)
    tcol = np.broadcast_to(paint.text, (ph, pw, 3)).astype(np.float32)
    if rng.random() < 0.25 and not plain:  # brass / painted sheen
        g = 1 + rng.uniform(-0.35, 0.35) * (np.linspace(-0.5, 0.5, ph, dtype=np.float32)[:, None, None])
        tcol = np.clip(tcol * g, 0, 1)
    if paint.plate is not None and shape is not None:
        plate_a, rgb = _plate(rng, pw, ph, num.hb, shape, paint.plate, paint.text)
    else:
        plate_a, rgb = np.zeros((ph, pw), np.float32), tcol.copy()
    if style["ring"]:
        rgb = rgb * (1 - ring_a[..., None]) + paint.ring * ring_a[..., None]
    rgb = rgb * (1 - fill_a[..., None]) + tcol * fill_a[..., None]
    return rgb, np.maximum(plate_a, np.maximum(fill_a, ring_a))


def _plate(rng: np.random.Generator, pw: int, ph: int, hb: float, shape: str, colour: np.ndarray,
           text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A plate of ``shape`` filling the plane: its alpha and colour (shaded, maybe with an inner border)."""
    pm = Image.new("L", (pw, ph), 0)
    dr = ImageDraw.Draw(pm)
    box = (1, 1, pw - 2, ph - 2)
    if shape == "rect":
        dr.rectangle(box, fill=255)
    elif shape == "round":
        dr.rounded_rectangle(box, radius=int(min(pw, ph) * rng.uniform(0.08, 0.35)), fill=255)
    else:
        dr.ellipse(box, fill=255)
    plate_a = np.asarray(pm, dtype=np.float32) / 255.0
    pcol = np.broadcast_to(colour, (ph, pw, 3)).astype(np.float32).copy()
    if rng.random() < 0.5:  # shading across the plate
        yy = np.linspace(-0.5, 0.5, ph, dtype=np.float32)[:, None, None]
        pcol = np.clip(pcol * (1 + rng.uniform(-0.3, 0.3) * yy), 0, 1)
    if rng.random() < 0.35:  # inner border line
        bm = Image.new("L", (pw, ph), 0)
        inset = int(max(2, hb * rng.uniform(0.04, 0.1)))
        width = int(max(1, hb * rng.uniform(0.025, 0.06)))
        b2 = (1 + inset, 1 + inset, pw - 2 - inset, ph - 2 - inset)
        bd = ImageDraw.Draw(bm)
        if shape == "ellipse":
            bd.ellipse(b2, outline=255, width=width)
        elif shape == "round":
            bd.rounded_rectangle(b2, radius=int(min(pw, ph) * 0.15), outline=255, width=width)
        else:
            bd.rectangle(b2, outline=255, width=width)
        ba = np.asarray(bm, dtype=np.float32)[..., None] / 255.0
        pcol = pcol * (1 - ba) + text * ba
    return plate_a, pcol


def _composite(rng: np.random.Generator, canvas: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, num: _Number,
               view: _View, plain: bool) -> np.ndarray:
    """The plane warped onto the canvas, with a drop shadow."""
    plane = Image.fromarray((np.dstack([rgb, alpha]) * 255).round().astype(np.uint8), "RGBA")
    if view.k < 0.75:  # shrink the plane with a proper filter first; the warp then only rotates/shears
        pre = view.k * 1.25
        plane = plane.resize((max(1, int(round(num.pw * pre))), max(1, int(round(num.ph * pre)))),
                             Image.Resampling.BOX)
        D = np.diag([plane.width / num.pw, plane.height / num.ph, 1.0])
        Mp = view.M @ np.linalg.inv(D)
    else:
        Mp = view.M
    inv = np.linalg.inv(Mp)
    inv = inv / inv[2, 2]
    warped = plane.transform((view.Wc, view.Hc), Image.Transform.PERSPECTIVE, tuple(inv.flatten()[:8]),
                             Image.Resampling.BILINEAR)
    wa = np.asarray(warped, dtype=np.float32) / 255.0
    a = wa[..., 3:4]
    if rng.random() < 0.4 and not plain:  # cast / drop shadow of the plate or the raised digits
        hbc = view.hbc
        dx = int(round(hbc * rng.uniform(0.02, 0.12) * rng.choice([-1, 1])))
        dy = int(round(hbc * rng.uniform(0.0, 0.12)))
        sh = Image.fromarray((a[..., 0] * 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(max(0.3, hbc * rng.uniform(0.01, 0.08))))
        sa = shift(np.asarray(sh, dtype=np.float32) / 255.0, dx, dy)
        canvas *= 1 - rng.uniform(0.25, 0.7) * sa[..., None]
    return canvas * (1 - a) + wa[..., :3] * a


def _output_boxes(digits: list[int], view: _View) -> list[DigitBox]:
    """The digit boxes in output pixels: integers, like the official annotations, clipped to the image, one
    common height per number (as annotated in SVHN)."""
    ob = view.cboxes / [view.fx, view.fy, view.fx, view.fy]
    hgt = max(1.0, float(np.round(view.hbc / view.fy)))
    result = []
    for dgt, (bx0, by0, bx1, _) in zip(digits, ob, strict=True):
        left = float(np.clip(np.round(bx0), 0, view.W - 1))
        top = float(np.clip(np.round(by0), 0, view.H - 1))
        right = float(np.clip(np.round(bx1), left + 1, view.W))
        result.append(DigitBox(10 if dgt == 0 else dgt, left, top, right - left, min(hgt, view.H - top)))
    return result
