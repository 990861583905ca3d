"""Scene rendering: backgrounds, shape outlines and masks, placement, and COCO polygons."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

import cv2
import numpy as np

from .attributes import (_MIN_VISIBLE, _RADIUS_RANGE, COLOURS, KINDS, SIZES, TEXTURES, Scene,
                         ShapeInfo)


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


def _regular_polygon(n: int, radius: float, rotation: float) -> np.ndarray:
    angles = rotation + np.arange(n) * 2 * np.pi / n
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _outline(kind: str, r: float, rotation: float) -> Optional[np.ndarray]:
    """Polygon outline of a shape centred on the origin, or None for round shapes."""
    up = -np.pi / 2  # image y points down, so -90 degrees points up
    if kind == 'square':
        return _regular_polygon(4, r * 1.05, np.pi / 4 + rotation)
    if kind == 'diamond':
        # Taller than wide so that it never reads as a rotated square.
        pts = np.array([[0, -1.25], [0.85, 0], [0, 1.25], [-0.85, 0]]) * r
    elif kind == 'triangle':
        pts = _regular_polygon(3, r * 1.2, up)
        pts[:, 1] += r * 0.15  # roughly centre the bounding box rather than the centroid
    elif kind == 'hexagon':
        pts = _regular_polygon(6, r * 1.05, 0.0)
    elif kind == 'star':
        radii = np.tile([r * 1.2, r * 0.5], 5)
        angles = up + np.arange(10) * np.pi / 5
        pts = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
        pts[:, 1] += r * 0.1
    elif kind == 'cross':
        w, a = 0.34 * r, 1.05 * r
        pts = np.array([[-w, -a], [w, -a], [w, -w], [a, -w], [a, w], [w, w], [w, a],
                        [-w, a], [-w, w], [-a, w], [-a, -w], [-w, -w]])
    elif kind == 'arrow':
        # Points right: a shaft and a head, about as wide as the other shapes.
        pts = np.array([[-1.1, -0.3], [0.15, -0.3], [0.15, -0.75], [1.15, 0], [0.15, 0.75],
                        [0.15, 0.3], [-1.1, 0.3]]) * r
    elif kind == 'heart':
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x, y + 2.5], axis=1) * (r * 1.1 / 16)
    else:
        return None
    c, s = math.cos(rotation), math.sin(rotation)
    return pts @ np.array([[c, s], [-s, c]])


def _shape_mask(kind: str, size: int, cx: float, cy: float, r: float,
                rotation: float) -> np.ndarray:
    """Binary mask of one shape drawn on an empty ``size``x``size`` canvas."""
    shift = 4  # OpenCV sub-pixel drawing: coordinates are scaled by 2**shift
    scale = float(1 << shift)
    mask = np.zeros((size, size), np.uint8)

    def disc(x: float, y: float, radius: float, value: int) -> None:
        cv2.circle(mask, (round(x * scale), round(y * scale)), round(radius * scale),
                   value, -1, cv2.LINE_8, shift)

    if kind == 'circle':
        disc(cx, cy, r, 1)
    elif kind == 'oval':
        # Clearly wider than tall so that it never reads as a circle.
        cv2.ellipse(mask, (round(cx * scale), round(cy * scale)),
                    (round(r * 1.25 * scale), round(r * 0.7 * scale)),
                    math.degrees(rotation), 0, 360, 1, -1, cv2.LINE_8, shift)
    elif kind == 'ring':
        disc(cx, cy, r * 1.05, 1)
        disc(cx, cy, r * 0.55, 0)
    elif kind == 'crescent':
        disc(cx, cy, r * 1.05, 1)
        # A bite out of the right side; the small rotation jitter is amplified so that
        # crescents vary in orientation while always opening to the right.
        bite = rotation * 4
        disc(cx + r * 0.55 * math.cos(bite), cy + r * 0.55 * math.sin(bite), r * 0.85, 0)
    else:
        pts = _outline(kind, r, rotation)
        assert pts is not None
        pts = np.round((pts + [cx, cy]) * scale).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, shift)
    return mask


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted colour gradient with low-frequency blotches, as float RGB."""
    # Saturation <= 0.2 keeps every background pixel far from the saturated colours of
    # the palette, and value <= 0.7 far from its white.
    hsv = np.zeros((1, 2, 3), np.float32)
    hsv[0, :, 0] = rng.uniform(0, 360, 2)
    hsv[0, :, 1] = rng.uniform(0.0, 0.2, 2)
    hsv[0, :, 2] = rng.uniform(0.25, 0.7, 2)
    ends = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0] * 255.0
    theta = rng.uniform(0, 2 * np.pi)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    ramp = coords[None, :] * math.cos(theta) + coords[:, None] * math.sin(theta)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    img = ends[0] * (1 - ramp[..., None]) + ends[1] * ramp[..., None]
    blotches = rng.normal(0, 12, (4, 4, 1)).astype(np.float32)
    img += cv2.resize(blotches, (size, size), interpolation=cv2.INTER_CUBIC)[..., None]
    return img


def _sample_attributes(rng: np.random.Generator, n: int) -> list[tuple[str, str, str, str]]:
    """Kinds, colours, sizes and textures for ``n`` shapes.

    Colour x kind pairs are distinct, except that sometimes one shape repeats another's
    pair so that size, texture, position or a relation is needed to tell them apart.
    """
    pairs = [(k, c) for k in KINDS for c in COLOURS]
    chosen = [pairs[i] for i in rng.choice(len(pairs), n, replace=False)]
    if rng.random() < 0.3:
        chosen[-1] = chosen[0]
    return [(k, c, SIZES[rng.integers(len(SIZES))], TEXTURES[rng.integers(len(TEXTURES))])
            for k, c in chosen]


def _place_shapes(rng: np.random.Generator, size: int
                  ) -> tuple[list[ShapeInfo], list[np.ndarray], list[np.ndarray]]:
    """Samples 3-5 shapes and positions them one on top of the other.

    A position is rejected when it would hide more than ``1 - _MIN_VISIBLE`` of an earlier
    shape; a shape that finds no position is left out.

    Returns:
        The placed shapes (bottom-most first), their full masks and their visible masks.
    """
    shapes: list[ShapeInfo] = []
    full: list[np.ndarray] = []
    areas: list[int] = []
    visible: list[np.ndarray] = []
    for kind, colour, size_cls, texture in _sample_attributes(rng, int(rng.integers(3, 6))):
        r = rng.uniform(*_RADIUS_RANGE[size_cls]) * size
        lo, hi = 1.25 * r + 1, size - 1.25 * r - 1  # keep the whole outline inside
        for _ in range(50):
            cx, cy = rng.uniform(lo, hi, 2)
            mask = _shape_mask(kind, size, cx, cy, r, rng.uniform(-0.17, 0.17)).astype(bool)
            covered = [v & ~mask for v in visible]
            if all(np.count_nonzero(c) >= _MIN_VISIBLE * a for c, a in zip(covered, areas)):
                break
        else:
            continue
        visible = covered + [mask]
        full.append(mask)
        areas.append(np.count_nonzero(mask))
        shapes.append(ShapeInfo(kind, colour, size_cls, texture,
                                round(float(cx) / size, 4), round(float(cy) / size, 4)))
    return [_with_extent(s, v) for s, v in zip(shapes, visible)], full, visible


def _with_extent(shape: ShapeInfo, visible: np.ndarray) -> ShapeInfo:
    """``shape`` with the ``area`` and ``bbox`` of its final visible ``(H, W)`` mask."""
    h, w = visible.shape
    ys, xs = np.nonzero(visible)
    bbox = (round(float(xs.min()) / w, 4), round(float(ys.min()) / h, 4),
            round(float(xs.max() + 1) / w, 4), round(float(ys.max() + 1) / h, 4))
    return replace(shape, area=round(len(xs) / (h * w), 5), bbox=bbox)


def render_scene(rng: np.random.Generator, image_size: int = 128) -> Scene:
    """Draws one image of 3-5 shapes over a muted background.

    Args:
        rng: The image's random generator (see :func:`image_rng`).
        image_size: Side of the square image in pixels.

    Returns:
        The scene with its BGR image, shapes and visible masks.
    """
    size = image_size
    img = _background(rng, size)
    shapes: list[ShapeInfo] = []
    while len(shapes) < 3:  # crowded draws that left a shape out start over
        shapes, full, visible = _place_shapes(rng, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for shape, mask in zip(shapes, full):
        colour = np.clip(np.array(COLOURS[shape.colour], np.float32)
                         + rng.uniform(-12, 12, 3), 0, 255)
        shade = np.ones((size, size), np.float32)
        if shape.texture == 'striped':
            # Dark stripes at a random orientation and phase, about 6 px apart at 128 px.
            period = max(4.0, size / 20)
            theta = rng.choice([0.0, 0.25, 0.5, 0.75]) * np.pi
            proj = xx * math.cos(theta) + yy * math.sin(theta) + rng.uniform(0, period)
            shade[(proj // (period / 2)) % 2 == 1] = 0.4
        elif shape.texture == 'checkered':
            # Axis-aligned dark squares, about 5 px wide at 128 px.
            cell = max(3.0, size / 28)
            dx, dy = rng.uniform(0, 2 * cell, 2)
            shade[((xx + dx) // cell + (yy + dy) // cell) % 2 == 1] = 0.4
        img[mask] = shade[mask][:, None] * colour
    img += 3.0 * rng.standard_normal(img.shape, np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return Scene(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), shapes,
                 [v.astype(np.uint8) for v in visible])


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
