"""Scene rendering: backgrounds, shape outlines and masks, placement, and COCO polygons.

Every shape is a set of polygons in units of its radius (a hole or a bite is a polygon
that is cut out), stretched, turned and moved into place, then filled with OpenCV, with or
without anti-aliasing. A shape's mask is where its coverage is at least one half, which
is also where its colour dominates the drawn pixel, so masks and pixels agree.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Optional

import cv2
import numpy as np

from .attributes import (_MIN_VISIBLE, _RADIUS_BANDS, BACKGROUNDS, COLOURS,
                         HELDOUT_STYLES, KINDS, Scene, SceneStyle, ShapeInfo)

# How far (RGB Euclidean distance) a palette colour's centre must stay from every pixel
# of an image's background to be used in that image: a white shape is never drawn on
# white paper, nor a grey one on a grey wall. Colour jitter moves a colour by at most
# 17 (10 per channel), so a drawn shape stays at least 53 away from its background.
_MIN_BACKGROUND_DISTANCE = 70.0
_COLOUR_JITTER = 10.0
# Sampling weights of the fill styles of a shape and the size bands of its radius.
_FILL_WEIGHTS = {'flat': 0.5, 'gradient': 0.25, 'outlined': 0.25}
_SIZE_WEIGHTS = {'small': 0.35, None: 0.3, 'large': 0.35}
_TEXTURE_WEIGHTS = {'solid': 0.5, 'striped': 0.25, 'checkered': 0.25}

# Per kind: the largest turn in degrees and the range of its aspect stretch (width over
# height before turning). A square turned by 45 degrees reads as a diamond, a cross as
# an x, a diamond on its side as a wide rhombus: those turn little. Circles, squares,
# rings, crescents and semicircles keep their proportions so that their names stay true;
# ovals and rectangles are always clearly longer than wide.
_KIND_POSE: dict[str, tuple[float, tuple[float, float]]] = {
    'circle': (0.0, (1.0, 1.0)),
    'square': (20.0, (1.0, 1.0)),
    'triangle': (180.0, (0.8, 1.25)),
    'star': (180.0, (0.9, 1.1)),
    'diamond': (15.0, (0.85, 1.15)),
    'cross': (20.0, (1.0, 1.0)),
    'ring': (0.0, (1.0, 1.0)),
    'hexagon': (180.0, (0.9, 1.1)),
    'heart': (30.0, (0.9, 1.1)),
    'crescent': (180.0, (1.0, 1.0)),
    'oval': (180.0, (0.85, 1.15)),
    'arrow': (180.0, (0.85, 1.2)),
    'pentagon': (180.0, (0.9, 1.1)),
    'octagon': (180.0, (1.0, 1.0)),
    'rectangle': (180.0, (0.85, 1.2)),
    'semicircle': (180.0, (1.0, 1.0)),
    'trapezoid': (30.0, (0.85, 1.2)),
    'cloud': (15.0, (0.9, 1.2)),
}


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of one image, independent of every other image's.

    Args:
        seed: Dataset seed.
        index: Zero-based image index over all splits (image id minus one).

    Returns:
        A generator seeded by ``(seed, 0, index)`` (stream 1 draws the measurement
        batches).
    """
    return np.random.default_rng([seed, 0, index])


# ------------------------------------------------------------------------------ outlines


def _polygon(n: int, radius: float = 1.0, rotation: float = 0.0,
             centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """``(n, 2)`` vertices of a regular polygon (a disc for large ``n``)."""
    angles = rotation + np.arange(n) * 2 * np.pi / n
    return np.stack([centre[0] + radius * np.cos(angles),
                     centre[1] + radius * np.sin(angles)], axis=1)


def _ellipse(rx: float, ry: float, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    return _polygon(48, 1.0, 0.0) * [rx, ry] + centre


_UP = -np.pi / 2  # image y points down, so -90 degrees points up


def _kind_parts(kind: str, rng: np.random.Generator) -> list[tuple[np.ndarray, bool]]:
    """The polygons of a shape of radius 1 centred on the origin.

    Args:
        kind: One of :data:`KINDS`.
        rng: Draws the proportions that vary within a kind (a ring's hole, a star's
            inner radius, a crescent's bite).

    Returns:
        ``(points (N, 2), added)`` pairs in drawing order; a part that is not added is
        cut out of what was drawn before it.
    """
    if kind == 'circle':
        return [(_polygon(64), True)]
    if kind == 'square':
        return [(_polygon(4, 1.05, np.pi / 4), True)]
    if kind == 'diamond':
        # Taller than wide so that it never reads as a turned square.
        return [(np.array([[0, -1.25], [0.85, 0], [0, 1.25], [-0.85, 0]]), True)]
    if kind == 'triangle':
        return [(_polygon(3, 1.2, _UP) + [0, 0.15], True)]
    if kind == 'hexagon':
        return [(_polygon(6, 1.05), True)]
    if kind == 'pentagon':
        return [(_polygon(5, 1.1, _UP) + [0, 0.05], True)]
    if kind == 'octagon':
        return [(_polygon(8, 1.05, np.pi / 8), True)]
    if kind == 'star':
        radii = np.tile([1.2, rng.uniform(0.42, 0.55)], 5)
        angles = _UP + np.arange(10) * np.pi / 5
        return [(np.stack([radii * np.cos(angles), radii * np.sin(angles) + 0.1], 1), True)]
    if kind == 'cross':
        w, a = 0.34, 1.05
        return [(np.array([[-w, -a], [w, -a], [w, -w], [a, -w], [a, w], [w, w], [w, a],
                           [-w, a], [-w, w], [-a, w], [-a, -w], [-w, -w]]), True)]
    if kind == 'arrow':
        # Points right before turning: a shaft and a head.
        return [(np.array([[-1.1, -0.3], [0.15, -0.3], [0.15, -0.75], [1.15, 0],
                           [0.15, 0.75], [0.15, 0.3], [-1.1, 0.3]]), True)]
    if kind == 'heart':
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return [(np.stack([x, y + 2.5], axis=1) * (1.1 / 16), True)]
    if kind == 'oval':
        # Clearly wider than tall so that it never reads as a circle.
        return [(_ellipse(1.25, 0.7), True)]
    if kind == 'rectangle':
        return [(np.array([[-1.2, -0.65], [1.2, -0.65], [1.2, 0.65], [-1.2, 0.65]]), True)]
    if kind == 'ring':
        return [(_polygon(64, 1.05), True), (_polygon(64, rng.uniform(0.45, 0.62)), False)]
    if kind == 'crescent':
        bite = rng.uniform(0.45, 0.6)
        return [(_polygon(64, 1.05), True), (_polygon(64, 0.85, centre=(bite, 0.0)), False)]
    if kind == 'semicircle':
        angles = np.linspace(np.pi, 2 * np.pi, 33)
        return [(np.stack([1.2 * np.cos(angles), 1.2 * np.sin(angles) + 0.6], 1), True)]
    if kind == 'trapezoid':
        return [(np.array([[-0.6, -0.7], [0.6, -0.7], [1.15, 0.7], [-1.15, 0.7]]), True)]
    if kind == 'cloud':
        puffs = [(-0.7, 0.15, 0.42), (-0.25, -0.2, 0.55), (0.3, -0.25, 0.5), (0.75, 0.12, 0.4)]
        return ([(_polygon(40, r, centre=(x, y)), True) for x, y, r in puffs]
                + [(_ellipse(0.95, 0.38, (0.0, 0.3)), True)])
    raise ValueError(f'unknown shape kind {kind!r}; expected one of {KINDS}')


def _pose(kind: str, rng: np.random.Generator) -> tuple[float, float]:
    """A random turn (radians) and aspect stretch for a shape of ``kind``."""
    max_turn, (low, high) = _KIND_POSE[kind]
    turn = math.radians(rng.uniform(-max_turn, max_turn)) if max_turn else 0.0
    return turn, float(rng.uniform(low, high)) if high > low else low


def _place_parts(parts: list[tuple[np.ndarray, bool]], r: float, turn: float,
                 aspect: float) -> list[tuple[np.ndarray, bool]]:
    """Parts scaled to radius ``r`` (pixels), stretched by ``aspect`` and turned."""
    stretch = np.array([math.sqrt(aspect), 1 / math.sqrt(aspect)]) * r
    c, s = math.cos(turn), math.sin(turn)
    rot = np.array([[c, s], [-s, c]])
    return [((pts * stretch) @ rot, added) for pts, added in parts]


def _coverage(parts: list[tuple[np.ndarray, bool]], size: int, cx: float, cy: float,
              antialias: bool) -> np.ndarray:
    """``(size, size)`` float32 coverage in [0, 1] of placed parts centred on (cx, cy)."""
    shift = 4  # OpenCV sub-pixel drawing: coordinates are scaled by 2**shift
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    cover = np.zeros((size, size), np.float32)
    layer = np.empty((size, size), np.uint8)
    for pts, added in parts:
        layer.fill(0)
        # Pixel centres sit at integer coordinates in OpenCV, at +0.5 in ours.
        ipts = np.round((pts + [cx - 0.5, cy - 0.5]) * (1 << shift)).astype(np.int32)
        cv2.fillPoly(layer, [ipts], 255, line, shift)
        part = layer.astype(np.float32) * (1 / 255)
        cover = np.maximum(cover, part) if added else cover * (1 - part)
    return cover


# --------------------------------------------------------------------------- backgrounds


def _muted(rng: np.random.Generator, n: int, value: tuple[float, float]) -> np.ndarray:
    """``(n, 3)`` float RGB colours of saturation <= 0.2 and HSV value in ``value``."""
    hsv = np.zeros((1, n, 3), np.float32)
    hsv[0, :, 0] = rng.uniform(0, 360, n)
    hsv[0, :, 1] = rng.uniform(0.0, 0.2, n)
    hsv[0, :, 2] = rng.uniform(*value, n)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0] * 255.0


def _background(family: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A desaturated background of a family of :data:`BACKGROUNDS`, as float RGB.

    Saturation <= 0.2 keeps every pixel far from the saturated colours of the palette;
    the neutral ones (white, grey, black) are kept off a background by choosing the
    image's colours after it (:func:`_colours_for`).
    """
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    # Light and dark backgrounds as well as mid-tones: authors draw on white paper too.
    level = (0.12, 0.95)
    if family == 'flat':
        return np.broadcast_to(_muted(rng, 1, level)[0], (size, size, 3)).copy()
    if family in ('gradient', 'blotches'):
        ends = _muted(rng, 2, level)
        theta = rng.uniform(0, 2 * np.pi)
        ramp = coords[None, :] * math.cos(theta) + coords[:, None] * math.sin(theta)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        img = ends[0] * (1 - ramp[..., None]) + ends[1] * ramp[..., None]
        if family == 'blotches':
            # Soft texture: low-frequency grey blotches at two scales.
            for cells, amp in ((4, 12.0), (9, 7.0)):
                blotches = rng.normal(0, amp, (cells, cells)).astype(np.float32)
                img += cv2.resize(blotches, (size, size),
                                  interpolation=cv2.INTER_CUBIC)[..., None]
        return img
    if family == 'radial':
        inner, outer = _muted(rng, 2, level)
        cx, cy = rng.uniform(-0.25, 0.25, 2)
        dist = np.hypot(coords[None, :] - cx, coords[:, None] - cy)
        t = np.clip(dist / 0.75, 0, 1)[..., None]
        return inner * (1 - t) + outer * t
    if family == 'noise':
        base = _muted(rng, 1, (0.2, 0.85))[0]
        grain = rng.normal(0, rng.uniform(6, 14), (size, size, 1)).astype(np.float32)
        return base + grain
    if family == 'grid':
        # Grid paper: thin lines every few pixels, every fifth line stronger.
        paper = _muted(rng, 1, (0.55, 0.95))[0]
        ink = rng.choice([-1.0, 1.0]) * rng.uniform(20, 40)
        step = rng.uniform(size / 20, size / 10)
        offset = rng.uniform(0, step, 2)
        img = np.broadcast_to(paper, (size, size, 3)).copy()
        pos = np.arange(size, dtype=np.float32)
        for axis in (0, 1):
            index = np.floor((pos + offset[axis]) / step)
            on_line = np.floor((pos + offset[axis] + 1) / step) != index
            strength = np.where(index % 5 == 0, 1.6, 1.0) * on_line
            line = strength[None, :, None] if axis == 1 else strength[:, None, None]
            img = img + ink * line
        return img
    if family == 'dots':
        paper = _muted(rng, 1, (0.3, 0.95))[0]
        ink = rng.choice([-1.0, 1.0]) * rng.uniform(25, 45)
        step = rng.uniform(size / 18, size / 9)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        ox, oy = rng.uniform(0, step, 2)
        dx = (xx + ox) % step - step / 2
        dy = (yy + oy) % step - step / 2
        dot = np.clip(rng.uniform(1.0, 2.2) + 0.5 - np.hypot(dx, dy), 0, 1)
        return paper + ink * dot[..., None]
    raise ValueError(f'unknown background family {family!r}; expected one of {BACKGROUNDS}')


def _colours_for(background: np.ndarray) -> list[str]:
    """The palette colours far enough from every pixel of ``background`` (float RGB)."""
    pixels = np.clip(background[::4, ::4].reshape(-1, 3), 0, 255)
    palette = np.array(list(COLOURS.values()), np.float32)
    nearest = np.sqrt(((pixels[None] - palette[:, None]) ** 2).sum(-1)).min(1)
    return [name for name, d in zip(COLOURS, nearest) if d >= _MIN_BACKGROUND_DISTANCE]


# ---------------------------------------------------------------------------- placement


def _sample_attributes(rng: np.random.Generator, n: int, colours: list[str]
                       ) -> list[tuple[str, str, Optional[str], str]]:
    """Kinds, colours, size bands and textures for ``n`` shapes.

    Colour x kind pairs are distinct, except that sometimes one shape repeats another's
    pair so that size, texture, position or a relation is needed to tell them apart.
    """
    pairs = [(k, c) for k in KINDS for c in colours]
    chosen = [pairs[i] for i in rng.choice(len(pairs), n, replace=False)]
    if rng.random() < 0.3:
        chosen[-1] = chosen[0]
    return [(k, c, _weighted(rng, _SIZE_WEIGHTS), _weighted(rng, _TEXTURE_WEIGHTS))
            for k, c in chosen]


def _weighted(rng: np.random.Generator, weights: dict) -> Any:
    """A key of ``weights`` drawn with probability proportional to its value."""
    p = np.array(list(weights.values()), np.float64)
    return list(weights)[rng.choice(len(p), p=p / p.sum())]


def _place_shapes(rng: np.random.Generator, size: int, colours: list[str], antialias: bool
                  ) -> tuple[list[ShapeInfo], list[np.ndarray], list[np.ndarray]]:
    """Samples 3-5 shapes and positions them one on top of the other.

    A position is rejected when it would hide more than ``1 - _MIN_VISIBLE`` of an earlier
    shape; a shape that finds no position is left out.

    Returns:
        The placed shapes (bottom-most first), their coverages in [0, 1] and their
        visible masks.
    """
    shapes: list[ShapeInfo] = []
    cover: list[np.ndarray] = []
    areas: list[int] = []
    visible: list[np.ndarray] = []
    for kind, colour, band, texture in _sample_attributes(rng, int(rng.integers(3, 6)),
                                                         colours):
        r = rng.uniform(*_RADIUS_BANDS[band]) * size
        parts = _place_parts(_kind_parts(kind, rng), r, *_pose(kind, rng))
        points = np.concatenate([p for p, _ in parts])
        low, high = -points.min(0) + 1, size - points.max(0) - 1  # the outline inside
        for _ in range(50):
            cx, cy = rng.uniform(low, high)
            alpha = _coverage(parts, size, cx, cy, antialias)
            mask = alpha >= 0.5
            covered = [v & ~mask for v in visible]
            if all(np.count_nonzero(c) >= _MIN_VISIBLE * a for c, a in zip(covered, areas)):
                break
        else:
            continue
        visible = covered + [mask]
        cover.append(alpha)
        areas.append(np.count_nonzero(mask))
        shapes.append(ShapeInfo(kind, colour, band, texture,
                                round(float(cx) / size, 4), round(float(cy) / size, 4)))
    return [_with_extent(s, v) for s, v in zip(shapes, visible)], cover, visible


def _with_extent(shape: ShapeInfo, visible: np.ndarray) -> ShapeInfo:
    """``shape`` with the ``area`` and ``bbox`` of its final visible ``(H, W)`` mask."""
    h, w = visible.shape
    ys, xs = np.nonzero(visible)
    bbox = (round(float(xs.min()) / w, 4), round(float(ys.min()) / h, 4),
            round(float(xs.max() + 1) / w, 4), round(float(ys.max() + 1) / h, 4))
    return replace(shape, area=round(len(xs) / (h * w), 5), bbox=bbox)


# ------------------------------------------------------------------------------ drawing


def _sample_style(rng: np.random.Generator, heldout: bool) -> SceneStyle:
    """The background family and effects of one image (fills are chosen per shape)."""
    seen_bgs = [b for b in BACKGROUNDS if b not in HELDOUT_STYLES['background']]
    shadow = False
    background = seen_bgs[rng.integers(len(seen_bgs))]
    if heldout:
        # Every held-out image shows at least one held-out style: a held-out background,
        # a drop shadow, or both.
        case = int(rng.integers(3))
        if case != 1:
            heldout_bgs = HELDOUT_STYLES['background']
            background = heldout_bgs[rng.integers(len(heldout_bgs))]
        shadow = case != 0
    return SceneStyle(background=background, shadow=shadow,
                      antialias=bool(rng.random() < 0.7))


def _fill_shade(fill: str, rng: np.random.Generator, alpha: np.ndarray, size: int,
                xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Brightness factor of a fill style over a window of a shape's coverage.

    Args:
        fill: One of :data:`FILLS`.
        rng: Draws the style's parameters.
        alpha: ``(h, w)`` coverage in the window.
        size: Side of the whole image in pixels.
        xx: ``(h, w)`` pixel x coordinates of the window.
        yy: ``(h, w)`` pixel y coordinates.

    Returns:
        ``(h, w)`` factors.
    """
    if fill == 'gradient':
        # A linear shading across the shape, brighter on one side; modest, so that a
        # shaded red never reads as maroon or pink.
        theta = rng.uniform(0, 2 * np.pi)
        proj = xx * math.cos(theta) + yy * math.sin(theta)
        inside = proj[alpha > 0]
        t = (proj - inside.min()) / max(float(np.ptp(inside)), 1.0)
        g = rng.uniform(0.1, 0.18)
        return (1 - g) + 2 * g * np.clip(t, 0, 1)
    if fill == 'outlined':
        # A thick border in a darker shade of the same hue, inside the outline.
        width = max(2, round(size * rng.uniform(0.015, 0.03)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1,) * 2)
        inner = cv2.erode(alpha, kernel)
        border = np.clip(alpha - inner, 0, 1) / np.maximum(alpha, 1e-6)
        return 1 - 0.5 * border
    return np.ones_like(alpha)


def _drop_shadows(img: np.ndarray, cover: list[np.ndarray], rng: np.random.Generator,
                  size: int) -> np.ndarray:
    """Soft shadows of every shape cast onto the background, all in one direction."""
    angle = rng.uniform(0, 2 * np.pi)
    dist = rng.uniform(0.02, 0.04) * size
    shift = np.float32([[1, 0, dist * math.cos(angle)], [0, 1, dist * math.sin(angle)]])
    sigma = rng.uniform(0.01, 0.02) * size
    opacity = rng.uniform(0.3, 0.45)
    shade = np.zeros((size, size), np.float32)
    for alpha in cover:
        shade = np.maximum(shade, cv2.warpAffine(alpha, shift, (size, size)))
    shade = cv2.GaussianBlur(shade, (0, 0), sigma)
    return img * (1 - opacity * shade[..., None])


def _paint(img: np.ndarray, alpha: np.ndarray, shape: ShapeInfo, fill: str,
           rng: np.random.Generator) -> None:
    """Composites one shape over ``img`` (float RGB, in place) with its coverage."""
    x, y, w, h = cv2.boundingRect((alpha > 0).view(np.uint8))
    pad = 4  # room for an outline's erosion at the window's edge
    x0, y0 = max(x - pad, 0), max(y - pad, 0)
    x1, y1 = min(x + w + pad, img.shape[1]), min(y + h + pad, img.shape[0])
    a = alpha[y0:y1, x0:x1]
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    colour = np.clip(np.array(COLOURS[shape.colour], np.float32)
                     + rng.uniform(-_COLOUR_JITTER, _COLOUR_JITTER, 3), 0, 255)
    shade = _fill_shade(fill, rng, a, img.shape[0], xx, yy)
    if shape.texture == 'striped':
        # Dark stripes at a random orientation and phase, about 6 px apart at 128 px.
        period = img.shape[0] / rng.uniform(17, 24)
        theta = rng.choice([0.0, 0.25, 0.5, 0.75]) * np.pi
        proj = xx * math.cos(theta) + yy * math.sin(theta) + rng.uniform(0, period)
        shade = np.where((proj // (period / 2)) % 2 == 1, 0.4 * shade, shade)
    elif shape.texture == 'checkered':
        # Axis-aligned dark squares, about 5 px wide at 128 px.
        cell = img.shape[0] / rng.uniform(24, 32)
        dx, dy = rng.uniform(0, 2 * cell, 2)
        odd = ((xx + dx) // cell + (yy + dy) // cell) % 2 == 1
        shade = np.where(odd, 0.4 * shade, shade)
    paint = np.clip(shade[..., None] * colour, 0, 255)
    a = a[..., None]
    img[y0:y1, x0:x1] = a * paint + (1 - a) * img[y0:y1, x0:x1]


def render_scene(rng: np.random.Generator, image_size: int = 128,
                 heldout_styles: bool = False) -> Scene:
    """Draws one image of 3-5 shapes over a desaturated background.

    Args:
        rng: The image's random generator (see :func:`image_rng`).
        image_size: Side of the square image in pixels.
        heldout_styles: Draw with at least one style of :data:`HELDOUT_STYLES` (the
            ``heldout_scenes`` split); otherwise with none of them.

    Returns:
        The scene with its BGR image, shapes, visible masks and style.
    """
    size = image_size
    style = _sample_style(rng, heldout_styles)
    img = _background(style.background, rng, size)
    colours = _colours_for(img)
    shapes: list[ShapeInfo] = []
    while len(shapes) < 3:  # crowded draws that left a shape out start over
        shapes, cover, visible = _place_shapes(rng, size, colours, style.antialias)
    if style.shadow:
        img = _drop_shadows(img, cover, rng, size)
    fills = []
    for shape, alpha in zip(shapes, cover):
        fill = _weighted(rng, _FILL_WEIGHTS)
        fills.append(fill)
        _paint(img, alpha, shape, fill, rng)
    img += rng.uniform(0, 5) * rng.standard_normal(img.shape, np.float32)
    if rng.random() < 0.15:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.7))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return Scene(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), shapes,
                 [v.astype(np.uint8) for v in visible],
                 replace(style, fills=tuple(fills)))


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons for a binary mask, holes included.

    Contours are traced on a 2x nearest-neighbour upsampling so that they run along pixel
    edges rather than through boundary pixel centres (which would lose half a pixel all
    round, a large error for small shapes). A hole is joined to its outer contour by a
    zero-width slit traversed in both directions, which COCO's even-odd rasterisation
    cancels out; separate polygons would be merged by union and fill the hole.

    Args:
        mask: ``(H, W)`` binary mask.

    Returns:
        A list of flat ``[x1, y1, x2, y2, ...]`` polygons with at least 3 points each.
    """
    up = 2
    h, w = mask.shape
    big = cv2.resize(mask.astype(np.uint8), (w * up, h * up),
                     interpolation=cv2.INTER_NEAREST)
    contours, hierarchy = cv2.findContours(big, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    if hierarchy is None:
        return polygons
    links = hierarchy[0]

    def simplify(contour: np.ndarray) -> np.ndarray:
        return cv2.approxPolyDP(contour, 1.0, True)[:, 0, :].astype(np.float64)

    for i, contour in enumerate(contours):
        if links[i][3] != -1:
            continue  # a hole: handled with its outer contour
        outer = simplify(contour)
        if len(outer) < 3:
            continue
        pieces = [outer, outer[:1]]
        child = links[i][2]
        while child != -1:
            hole = simplify(contours[child])
            if len(hole) >= 3:
                pieces += [hole, hole[:1], outer[:1]]
            child = links[child][0]
        pts = (np.concatenate(pieces) + 0.5) / up
        polygons.append([round(float(v), 2) for v in pts.ravel()])
    return polygons
