"""A synthetic referring-segmentation dataset written in the RefCOCO release format.

Each image shows 3-5 coloured shapes over a muted background; each referring sentence
names exactly one of them by colour, shape, size, texture, absolute position or its
relation to another shape. The output folder has the same files as a RefCOCO release
(``instances.json`` in COCO format, ``refs(unc).p``, an image folder), so it is read by
the same dataset code as the real benchmarks.

Sentences come from a small closed grammar. :func:`parse_sentence` maps a sentence back to
its :class:`Expression` and :func:`matching_shapes` evaluates it on a scene, which lets the
generator prove that every sentence identifies exactly one shape, and lets it measure how
often a sentence also fits another image of a training batch (a false negative for a
contrastive loss that treats every other image of the batch as a negative).

Only numpy, OpenCV, pycocotools and the standard library are used, so the dataset can be
generated without the deep-learning stack::

    python -m sgseg.datasets.synthetic --out data/synthetic_refer --seed 0
"""
from __future__ import annotations

import argparse
import json
import math
import pickle
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

GENERATOR_VERSION = '1.1.0'

KINDS: tuple[str, ...] = ('circle', 'square', 'triangle', 'star', 'diamond', 'cross',
                          'ring', 'hexagon', 'heart', 'crescent', 'oval', 'arrow')
# Saturated RGB colours, far apart in hue; backgrounds are kept desaturated so that no
# background pixel can be mistaken for a shape colour.
COLOURS: dict[str, tuple[int, int, int]] = {
    'red': (220, 30, 35),
    'orange': (250, 140, 20),
    'yellow': (245, 225, 30),
    'green': (40, 170, 60),
    'cyan': (20, 205, 215),
    'blue': (30, 70, 225),
    'purple': (135, 45, 200),
    'pink': (245, 110, 190),
    'brown': (140, 78, 30),
    'white': (245, 245, 245),
}
SIZES: tuple[str, ...] = ('small', 'large')
TEXTURES: tuple[str, ...] = ('solid', 'striped', 'checkered')
RELATIONS: tuple[str, ...] = ('left', 'right', 'above', 'below')
SPLITS: tuple[str, ...] = ('train', 'val', 'testA', 'testB')

# Shape radius as a fraction of the image side, per size class. The gap between the two
# ranges keeps "small" and "large" visually unambiguous.
_RADIUS_RANGE = {'small': (0.075, 0.095), 'large': (0.15, 0.18)}
# Every shape keeps at least this fraction of its pixels visible after occlusion.
_MIN_VISIBLE = 0.8
# Position words use image thirds; a shape is only described by a position (or a
# relation) when it is clearly inside it, and a distractor must be clearly outside it.
_BAND_MARGIN = 0.05
_CONE_HALF_ANGLE = 45.0
_CONE_MARGIN = 15.0
_MIN_RELATION_DISTANCE = 0.12

# Surface forms. The first entry of each list is the canonical word.
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    'circle': ('circle',), 'square': ('square', 'box'), 'triangle': ('triangle',),
    'star': ('star',), 'diamond': ('diamond',), 'cross': ('cross', 'plus sign'),
    'ring': ('ring', 'donut'), 'hexagon': ('hexagon',), 'heart': ('heart',),
    'crescent': ('crescent', 'moon'), 'oval': ('oval', 'ellipse'), 'arrow': ('arrow',),
}
_GENERIC_NOUNS = ('shape', 'one', 'object')
_COLOUR_WORDS: dict[str, tuple[str, ...]] = {c: (c,) for c in COLOURS}
_COLOUR_WORDS['purple'] = ('purple', 'violet')
_SIZE_WORDS = {'small': ('small', 'little'), 'large': ('large', 'big')}
_TEXTURE_WORDS = {'solid': ('solid', 'plain'), 'striped': ('striped', 'stripy'),
                  'checkered': ('checkered', 'checkerboard')}
_RELATION_WORDS = {
    'left': ('left of', 'to the left of', 'on the left of'),
    'right': ('right of', 'to the right of', 'on the right of'),
    'above': ('above',),
    'below': ('below', 'under', 'beneath', 'underneath'),
}
_RELATION_PATTERN = re.compile(
    r'\b(?:(?:to|on) the )?(left|right) of\b|\b(above|below|under|beneath|underneath)\b')
_CLAUSE_PATTERN = re.compile(r'\b(?:that|which) is\b')

# Expression families and their sampling weights. A relational sentence names a second
# shape (the anchor) by colour and kind, which a model trained from sentences alone also
# attends to, so its mask covers both: with relations at 0.55 the embedded default
# reached PointM 37 on them against 60-68 on the other families. At 0.2 most sentences
# name the target alone; the rate of sentences that also fit another image of a batch
# rises (7.6% to 13.8% at batch 32), which the contrastive loss tolerates
# (docs/notes/embedded_default.md).
_FAMILY_WEIGHTS = {'relation': 0.2, 'position': 0.3, 'attributes': 0.45, 'short': 0.05}


@dataclass(frozen=True)
class ShapeInfo:
    """Attributes of one drawn shape, as a sentence may refer to them.

    Attributes:
        kind: One of :data:`KINDS`.
        colour: One of :data:`COLOURS`.
        size: ``'small'`` or ``'large'``.
        texture: One of :data:`TEXTURES`.
        x: Horizontal centre, as a fraction of the image width.
        y: Vertical centre, as a fraction of the image height (0 is the top).
    """

    kind: str
    colour: str
    size: str
    texture: str
    x: float
    y: float


@dataclass
class Scene:
    """A rendered image with its shapes in drawing order.

    Attributes:
        image: ``(H, W, 3)`` uint8 image in BGR order (OpenCV's convention).
        shapes: The shapes, bottom-most first.
        masks: Visible (not occluded) ``(H, W)`` uint8 masks, one per shape.
    """

    image: np.ndarray
    shapes: list[ShapeInfo]
    masks: list[np.ndarray]


@dataclass(frozen=True)
class Phrase:
    """A noun phrase: the attributes it names (``None`` where it names none).

    Attributes:
        kind: Shape kind, or ``None`` for a generic noun ("shape", "one").
        colour: Colour name or ``None``.
        size: Size class or ``None``.
        texture: Texture or ``None``.
        hpos: ``'left'``, ``'middle'``, ``'right'`` or ``None``.
        vpos: ``'top'``, ``'middle'``, ``'bottom'`` or ``None``.
    """

    kind: Optional[str] = None
    colour: Optional[str] = None
    size: Optional[str] = None
    texture: Optional[str] = None
    hpos: Optional[str] = None
    vpos: Optional[str] = None

    def num_attributes(self) -> int:
        """Number of non-positional attributes the phrase names."""
        return sum(v is not None for v in (self.kind, self.colour, self.size, self.texture))


@dataclass(frozen=True)
class Expression:
    """A referring expression: a target phrase, optionally related to an anchor shape.

    Attributes:
        target: What the referred shape looks like and where it is.
        relation: One of :data:`RELATIONS` (target relative to anchor) or ``None``.
        anchor: The phrase naming the anchor shape when ``relation`` is set.
    """

    target: Phrase
    relation: Optional[str] = None
    anchor: Optional[Phrase] = None


# ----------------------------------------------------------------------------- predicates


def _band(value: float, slack: float) -> dict[str, bool]:
    """Which thirds of the unit interval ``value`` lies in, with a widened/narrowed edge.

    Args:
        value: Position in ``[0, 1]``.
        slack: Positive widens every band (the loose reading used for distractors),
            negative narrows it (the strict reading used for targets).

    Returns:
        Membership of the low, middle and high band.
    """
    m = slack * _BAND_MARGIN
    return {
        'low': value < 1 / 3 + m,
        'middle': 1 / 3 - m < value < 2 / 3 + m,
        'high': value > 2 / 3 - m,
    }


def phrase_matches(phrase: Phrase, shape: ShapeInfo, slack: float = 0.0) -> bool:
    """Whether a shape fits a phrase.

    Args:
        phrase: The phrase to test.
        shape: The shape.
        slack: ``0`` for the plain reading, ``-1`` strict, ``+1`` loose (positions only;
            the other attributes are discrete).

    Returns:
        True if every attribute named by the phrase holds for the shape.
    """
    for attr in ('kind', 'colour', 'size', 'texture'):
        wanted = getattr(phrase, attr)
        if wanted is not None and getattr(shape, attr) != wanted:
            return False
    if phrase.hpos is not None:
        bands = _band(shape.x, slack)
        if not bands[{'left': 'low', 'middle': 'middle', 'right': 'high'}[phrase.hpos]]:
            return False
    if phrase.vpos is not None:
        bands = _band(shape.y, slack)
        if not bands[{'top': 'low', 'middle': 'middle', 'bottom': 'high'}[phrase.vpos]]:
            return False
    return True


def relation_holds(relation: str, target: ShapeInfo, anchor: ShapeInfo,
                   slack: float = 0.0) -> bool:
    """Whether ``target`` is ``relation`` of ``anchor`` (e.g. left of it).

    The anchor must lie within a cone around the relation's direction as seen from the
    target; the cone is narrower (and a minimum distance applies) for the strict reading.

    Args:
        relation: One of :data:`RELATIONS`.
        target: The shape that is left of / above / ... the anchor.
        anchor: The reference shape.
        slack: ``0`` plain, ``-1`` strict, ``+1`` loose.

    Returns:
        True if the relation holds.
    """
    dx, dy = anchor.x - target.x, anchor.y - target.y
    if slack < 0 and math.hypot(dx, dy) < _MIN_RELATION_DISTANCE:
        return False
    # Direction from target to anchor: a target left of the anchor sees it to the right.
    direction = {'left': 0.0, 'right': 180.0, 'above': 90.0, 'below': -90.0}[relation]
    angle = math.degrees(math.atan2(dy, dx))
    diff = abs((angle - direction + 180.0) % 360.0 - 180.0)
    return diff < _CONE_HALF_ANGLE + slack * _CONE_MARGIN


def matching_shapes(expr: Expression, shapes: Sequence[ShapeInfo],
                    slack: float = 0.0) -> list[int]:
    """Indices of the shapes that an expression describes.

    Args:
        expr: The expression.
        shapes: All shapes of one image.
        slack: ``0`` plain, ``-1`` strict, ``+1`` loose (see :func:`phrase_matches`).

    Returns:
        Indices of the shapes that fit the target phrase and, with a relation, stand in
        that relation to some other shape fitting the anchor phrase.
    """
    found = []
    for i, shape in enumerate(shapes):
        if not phrase_matches(expr.target, shape, slack):
            continue
        if expr.relation is not None:
            assert expr.anchor is not None
            if not any(j != i and phrase_matches(expr.anchor, a, slack)
                       and relation_holds(expr.relation, shape, a, slack)
                       for j, a in enumerate(shapes)):
                continue
        found.append(i)
    return found


def identifies(expr: Expression, shapes: Sequence[ShapeInfo], target: int) -> bool:
    """Whether an expression unambiguously refers to ``shapes[target]``.

    The target must fit the strict reading, every other shape must fail the loose reading
    (so no shape sits on the edge of a position band or a relation cone), and an anchor
    phrase must name exactly one shape.

    Args:
        expr: The expression.
        shapes: All shapes of the image.
        target: Index of the intended shape.

    Returns:
        True if the expression identifies the target and nothing else.
    """
    if expr.anchor is not None:
        if len([s for s in shapes if phrase_matches(expr.anchor, s)]) != 1:
            return False
    return (matching_shapes(expr, shapes, slack=-1.0) == [target]
            and matching_shapes(expr, shapes, slack=1.0) == [target])


# ------------------------------------------------------------------------------ rendering


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
    return shapes, full, visible


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


# ------------------------------------------------------------------------------- language


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _phrase_text(rng: np.random.Generator, phrase: Phrase) -> str:
    """Surface form of a phrase, without its position."""
    words = ['the']
    if phrase.size is not None:
        words.append(_pick(rng, _SIZE_WORDS[phrase.size]))
    texture_after = phrase.texture == 'striped' and rng.random() < 0.3
    if phrase.texture is not None and not texture_after:
        words.append(_pick(rng, _TEXTURE_WORDS[phrase.texture]))
    if phrase.colour is not None:
        words.append(_pick(rng, _COLOUR_WORDS[phrase.colour]))
    if phrase.kind is not None:
        words.append(_pick(rng, _KIND_WORDS[phrase.kind]))
    else:
        words.append(_pick(rng, _GENERIC_NOUNS))
    if texture_after:
        words.append('with stripes')
    return ' '.join(words)


def _position_text(rng: np.random.Generator, hpos: Optional[str],
                   vpos: Optional[str]) -> str:
    if hpos == 'middle' and vpos == 'middle':
        return _pick(rng, ('in the center', 'in the middle'))
    if hpos is not None and vpos is not None:
        return _pick(rng, (f'in the {vpos} {hpos} corner', f'at the {vpos} {hpos}',
                           f'{vpos} {hpos}'))
    if hpos is not None:
        return _pick(rng, (f'on the {hpos}', f'on the {hpos} side', f'at the {hpos}'))
    return _pick(rng, (f'at the {vpos}', f'near the {vpos}', f'at the {vpos} of the image'))


def describe(rng: np.random.Generator, expr: Expression) -> str:
    """Renders an expression as a lower-case sentence with a randomly chosen wording.

    Args:
        rng: Chooses among synonyms and word orders.
        expr: The expression.

    Returns:
        The sentence; :func:`parse_sentence` recovers ``expr`` from it.
    """
    text = _phrase_text(rng, expr.target)
    if expr.target.hpos is not None or expr.target.vpos is not None:
        text += ' ' + _position_text(rng, expr.target.hpos, expr.target.vpos)
    if expr.relation is not None:
        assert expr.anchor is not None
        if rng.random() < 0.25:
            text += ' ' + _pick(rng, ('that is', 'which is'))
        text += ' ' + _pick(rng, _RELATION_WORDS[expr.relation])
        text += ' ' + _phrase_text(rng, expr.anchor)
    return text


def _vocabulary() -> list[tuple[str, str, str]]:
    """(surface form, attribute, value) for every attribute word, longest form first."""
    vocab = [(w, 'kind', k) for k, ws in _KIND_WORDS.items() for w in ws]
    vocab += [(w, 'colour', c) for c, ws in _COLOUR_WORDS.items() for w in ws]
    vocab += [(w, 'size', s) for s, ws in _SIZE_WORDS.items() for w in ws]
    vocab += [(w, 'texture', t) for t, ws in _TEXTURE_WORDS.items() for w in ws]
    vocab.append(('with stripes', 'texture', 'striped'))
    return sorted(vocab, key=lambda v: -len(v[0]))


_VOCABULARY = _vocabulary()


def _parse_phrase(text: str) -> Phrase:
    fields: dict[str, Optional[str]] = {}
    for form, attr, value in _VOCABULARY:
        pattern = rf'\b{form}\b'
        if re.search(pattern, text):
            fields[attr] = value
            text = re.sub(pattern, ' ', text)
    words = set(text.split())
    if {'center', 'middle'} & words:
        fields['hpos'] = fields['vpos'] = 'middle'
    for word in ('left', 'right'):
        if word in words:
            fields['hpos'] = word
    for word in ('top', 'bottom'):
        if word in words:
            fields['vpos'] = word
    return Phrase(**fields)


def parse_sentence(sentence: str) -> Expression:
    """Recovers the expression of a generated sentence.

    Args:
        sentence: A sentence produced by :func:`describe` (case and trailing punctuation
            are ignored).

    Returns:
        The expression the sentence states.
    """
    text = re.sub(r'[^a-z ]', ' ', sentence.lower())
    text = _CLAUSE_PATTERN.sub(' ', text)
    found = _RELATION_PATTERN.search(text)
    if found is None:
        return Expression(_parse_phrase(text))
    word = found.group(1) or found.group(2)
    relation = {'under': 'below', 'beneath': 'below', 'underneath': 'below'}.get(word, word)
    return Expression(_parse_phrase(text[:found.start()]), relation,
                      _parse_phrase(text[found.end():]))


# ------------------------------------------------------------------------ referring logic


_ATTRIBUTES = ('kind', 'colour', 'size', 'texture')


def _target_phrase(rng: np.random.Generator, shape: ShapeInfo, min_attributes: int) -> Phrase:
    """A phrase naming a random subset (colour and kind usually) of the shape's attributes."""
    keep = {'kind': rng.random() < 0.9, 'colour': rng.random() < 0.9,
            'size': rng.random() < 0.6, 'texture': rng.random() < 0.6}
    missing = [a for a in _ATTRIBUTES if not keep[a]]
    rng.shuffle(missing)
    while sum(keep.values()) < min_attributes:
        keep[missing.pop()] = True
    return Phrase(**{a: getattr(shape, a) for a in _ATTRIBUTES if keep[a]})


def _complete(rng: np.random.Generator, expr: Expression, shapes: Sequence[ShapeInfo],
              target: int) -> Optional[Expression]:
    """Adds target attributes one at a time until the expression identifies the target."""
    missing = [a for a in _ATTRIBUTES if getattr(expr.target, a) is None]
    rng.shuffle(missing)
    while not identifies(expr, shapes, target):
        if not missing:
            return None
        attr = missing.pop()
        expr = replace(expr, target=replace(expr.target,
                                            **{attr: getattr(shapes[target], attr)}))
    return expr


def _positions(shape: ShapeInfo) -> list[tuple[Optional[str], Optional[str]]]:
    """Position descriptions (hpos, vpos) that clearly hold for a shape."""
    h_bands, v_bands = _band(shape.x, -1.0), _band(shape.y, -1.0)
    hs = [name for band, name in (('low', 'left'), ('high', 'right')) if h_bands[band]]
    vs = [name for band, name in (('low', 'top'), ('high', 'bottom')) if v_bands[band]]
    out: list[tuple[Optional[str], Optional[str]]] = [(h, None) for h in hs]
    out += [(None, v) for v in vs] + [(h, v) for h in hs for v in vs]
    if h_bands['middle'] and v_bands['middle']:
        out.append(('middle', 'middle'))
    return out


def _anchor_phrase(shapes: Sequence[ShapeInfo], anchor: int,
                   rng: np.random.Generator) -> Optional[Phrase]:
    """The shortest phrase naming the anchor's colour and kind that names only it."""
    shape = shapes[anchor]
    extras: list[tuple[str, ...]] = [(), ('size',), ('texture',), ('size', 'texture')]
    if rng.random() < 0.3:
        extras = extras[1:]  # now and then name more than needed, as people do
    for extra in extras:
        phrase = Phrase(kind=shape.kind, colour=shape.colour,
                        **{a: getattr(shape, a) for a in extra})
        if [i for i, s in enumerate(shapes) if phrase_matches(phrase, s)] == [anchor]:
            return phrase
    return None


def _propose(rng: np.random.Generator, family: str, shapes: Sequence[ShapeInfo],
             target: int) -> Optional[Expression]:
    """One random expression of a family for the target, completed to be unambiguous."""
    shape = shapes[target]
    if family == 'short':
        expr = Expression(Phrase(kind=shape.kind, colour=shape.colour))
        return expr if identifies(expr, shapes, target) else None
    if family == 'attributes':
        return _complete(rng, Expression(_target_phrase(rng, shape, 4)), shapes, target)
    if family == 'position':
        options = _positions(shape)
        if not options:
            return None
        hpos, vpos = options[int(rng.integers(len(options)))]
        phrase = replace(_target_phrase(rng, shape, 3), hpos=hpos, vpos=vpos)
        return _complete(rng, Expression(phrase), shapes, target)
    candidates = [(rel, j) for j in range(len(shapes)) if j != target
                  for rel in RELATIONS if relation_holds(rel, shape, shapes[j], -1.0)]
    if not candidates:
        return None
    rel, j = candidates[int(rng.integers(len(candidates)))]
    anchor = _anchor_phrase(shapes, j, rng)
    if anchor is None:
        return None
    return _complete(rng, Expression(_target_phrase(rng, shape, 2), rel, anchor),
                     shapes, target)


def refer(rng: np.random.Generator, shapes: Sequence[ShapeInfo], target: int, num: int,
          family_weights: Optional[dict[str, float]] = None) -> list[Expression]:
    """Up to ``num`` distinct expressions, each identifying ``shapes[target]``.

    Args:
        rng: Random generator.
        shapes: All shapes of the image.
        target: Index of the referred shape.
        num: How many expressions are wanted.
        family_weights: Sampling weight of each expression family (``'relation'``,
            ``'position'``, ``'attributes'``, ``'short'``); defaults to
            ``_FAMILY_WEIGHTS``. A family left out is never used.

    Returns:
        Distinct unambiguous expressions (fewer than ``num``, possibly none, when the
        shape cannot be told apart often enough).
    """
    family_weights = family_weights or _FAMILY_WEIGHTS
    families = list(family_weights)
    weights = np.array(list(family_weights.values()), np.float64)
    found: list[Expression] = []
    for _ in range(12 * num):
        family = families[int(rng.choice(len(families), p=weights / weights.sum()))]
        expr = _propose(rng, family, shapes, target)
        if expr is not None and expr not in found:
            found.append(expr)
            if len(found) == num:
                break
    return found


# ------------------------------------------------------------------------- measurements


def batch_false_negative_rate(samples: Sequence[tuple[int, str]],
                              scenes: dict[int, Sequence[ShapeInfo]],
                              rng: np.random.Generator, batch_size: int = 32,
                              num_batches: int = 200) -> dict[str, float]:
    """How often a training sentence also fits another image of a random batch.

    A batch holds ``batch_size`` (image, sentence) samples of distinct images. A sentence
    is a false negative when it describes some shape of another image of the batch (the
    contrastive loss then pushes apart a pair that matches). "Unique" counts only other
    images where the sentence would be a valid referring expression (exactly one shape).

    Args:
        samples: ``(image_id, sentence)`` pairs of the training split.
        scenes: Shapes of each training image by image id.
        rng: Random generator for drawing batches.
        batch_size: Samples per batch.
        num_batches: Number of random batches.

    Returns:
        ``{'any': rate, 'unique': rate}``; 0 when there are too few images for a batch.
    """
    images = sorted(scenes)
    if len(images) < batch_size:
        return {'any': 0.0, 'unique': 0.0}
    by_image: dict[int, list[Expression]] = {}
    for image_id, sent in samples:
        by_image.setdefault(image_id, []).append(parse_sentence(sent))
    images = [i for i in images if i in by_image]
    hits_any = hits_unique = total = 0
    for _ in range(num_batches):
        batch = [images[i] for i in rng.choice(len(images), batch_size, replace=False)]
        for image_id in batch:
            options = by_image[image_id]
            expr = options[int(rng.integers(len(options)))]
            counts = [len(matching_shapes(expr, scenes[other]))
                      for other in batch if other != image_id]
            hits_any += any(c >= 1 for c in counts)
            hits_unique += any(c == 1 for c in counts)
            total += 1
    return {'any': round(hits_any / total, 4), 'unique': round(hits_unique / total, 4)}


# ------------------------------------------------------------------------------- writing


def _raw_form(rng: np.random.Generator, sent: str) -> str:
    """A typed-looking version of a sentence (capitalised, sometimes ending in a period)."""
    raw = sent[0].upper() + sent[1:] if rng.random() < 0.5 else sent
    return raw + '.' if rng.random() < 0.2 else raw


def make_synthetic_refer(out_dir: str | Path, num_train_images: int = 4000,
                         num_val_images: int = 300, num_test_images: int = 150,
                         image_size: int = 128, seed: int = 0, max_refs_per_image: int = 3,
                         max_sents_per_ref: int = 2, min_refs_per_image: int = 1,
                         min_sents_per_ref: int = 1,
                         family_weights: Optional[dict[str, float]] = None,
                         batch_size: int = 32, num_fn_batches: int = 200) -> dict[str, Any]:
    """Generates the synthetic referring dataset in the RefCOCO release format.

    Writes ``instances.json`` (COCO), ``refs(unc).p`` (splits train/val/testA/testB, no
    image shared between splits), ``images/synth_<id>.jpg``, ``stats.json`` and a short
    ``README.md``. The same seed and sizes give byte-identical annotation files.

    Args:
        out_dir: Output folder (created).
        num_train_images: Images of the train split.
        num_val_images: Images of the val split.
        num_test_images: Images of each of testA and testB (same distribution).
        image_size: Side of the square images in pixels.
        seed: Random seed.
        max_refs_per_image: Shapes referred to per image (``min_refs_per_image`` to
            this many, fewer when the image has fewer shapes that can be told apart).
        max_sents_per_ref: Sentences per referred shape (``min_sents_per_ref`` to this
            many, fewer when fewer distinct expressions identify the shape).
        min_refs_per_image: See ``max_refs_per_image``.
        min_sents_per_ref: See ``max_sents_per_ref``.
        family_weights: Sampling weights of the expression families (see :func:`refer`).
            More relational sentences lower the false-negative rate; more attribute
            sentences name the target alone.
        batch_size: Batch size of the false-negative measurement.
        num_fn_batches: Number of random batches of that measurement.

    Returns:
        The statistics also written to ``stats.json``.
    """
    out = Path(out_dir)
    (out / 'images').mkdir(parents=True, exist_ok=True)
    split_of = (['train'] * num_train_images + ['val'] * num_val_images
                + ['testA'] * num_test_images + ['testB'] * num_test_images)
    images, annotations, refs = [], [], []
    train_scenes: dict[int, list[ShapeInfo]] = {}
    train_samples: list[tuple[int, str]] = []
    family_counts = {'relation': 0, 'position': 0, 'attributes': 0, 'short': 0}
    ann_id = sent_id = 0
    for index, split in enumerate(split_of):
        rng = image_rng(seed, index)
        scene = render_scene(rng, image_size)
        image_id = index + 1
        file_name = f'synth_{image_id:06d}.jpg'
        cv2.imwrite(str(out / 'images' / file_name), scene.image,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({'id': image_id, 'file_name': file_name, 'height': image_size,
                       'width': image_size})
        ann_ids = []
        for shape, mask in zip(scene.shapes, scene.masks):
            polygons = mask_to_polygons(mask)
            rle = mask_utils.merge(mask_utils.frPyObjects(polygons, image_size, image_size))
            ann_id += 1
            ann_ids.append(ann_id)
            annotations.append({
                'id': ann_id, 'image_id': image_id,
                'category_id': KINDS.index(shape.kind) + 1, 'segmentation': polygons,
                'area': float(mask_utils.area(rle)),
                'bbox': [round(float(v), 2) for v in mask_utils.toBbox(rle)],
                'iscrowd': 0})
        if split == 'train':
            train_scenes[image_id] = scene.shapes
        order = rng.permutation(len(scene.shapes))
        wanted = int(rng.integers(min_refs_per_image, max_refs_per_image + 1))
        for target in order:
            if wanted == 0:
                break
            exprs = refer(rng, scene.shapes, int(target),
                          int(rng.integers(min_sents_per_ref, max_sents_per_ref + 1)),
                          family_weights)
            if not exprs:
                continue
            wanted -= 1
            sentences = []
            for expr in exprs:
                sent_id += 1
                sent = describe(rng, expr)
                sentences.append({'sent_id': sent_id, 'sent': sent,
                                  'raw': _raw_form(rng, sent), 'tokens': sent.split()})
                family_counts[_family(expr)] += 1
                if split == 'train':
                    train_samples.append((image_id, sent))
            shape = scene.shapes[int(target)]
            refs.append({
                'ref_id': len(refs), 'ann_id': ann_ids[int(target)], 'image_id': image_id,
                'category_id': KINDS.index(shape.kind) + 1, 'split': split,
                'file_name': f'COCO_train2014_{image_id:012d}_{ann_ids[int(target)]}.jpg',
                'sent_ids': [s['sent_id'] for s in sentences], 'sentences': sentences})
    instances = {
        'info': {'description': 'sgseg synthetic referring dataset',
                 'version': GENERATOR_VERSION},
        'images': images, 'annotations': annotations,
        'categories': [{'id': i + 1, 'name': k, 'supercategory': 'shape'}
                       for i, k in enumerate(KINDS)]}
    # One json.dumps call uses the C encoder; json.dump would stream through Python.
    (out / 'instances.json').write_text(json.dumps(instances, separators=(',', ':')))
    with open(out / 'refs(unc).p', 'wb') as f:
        pickle.dump(refs, f, protocol=4)
    fn_rate = batch_false_negative_rate(train_samples, train_scenes,
                                        np.random.default_rng([seed, 1]), batch_size,
                                        num_fn_batches)
    stats = _statistics(refs, images, annotations, family_counts, fn_rate, seed,
                        image_size, batch_size)
    stats['family_weights'] = dict(family_weights or _FAMILY_WEIGHTS)
    with open(out / 'stats.json', 'w') as f:
        json.dump(stats, f, indent=2)
    _write_readme(out / 'README.md', stats)
    return stats


def sentence_family(sentence: str) -> str:
    """The family (``relation``, ``position``, ``attributes``, ``short``) of a sentence
    of this generator."""
    return _family(parse_sentence(sentence))


def results_by_family(results: Sequence[dict]) -> list[dict[str, Any]]:
    """mIoU and PointM of per-sentence results grouped by sentence family.

    Args:
        results: rows of ``tools/test.py --out`` (``text``, ``iou``, ``pointm_hit``).

    Returns:
        One row per family present (``family``, ``n``, ``mIoU``, ``PointM``), then
        ``all``; metrics in percent.
    """
    groups: dict[str, list[dict]] = {}
    for index, row in enumerate(results):
        missing = [k for k in ('text', 'iou', 'pointm_hit') if k not in row]
        if missing:
            raise KeyError(f'result row {index} has no {missing}')
        groups.setdefault(sentence_family(row['text']), []).append(row)
    ordered = [(f, groups[f]) for f in _FAMILY_WEIGHTS if f in groups]
    return [dict(family=family, n=len(rows_of),
                 mIoU=100 * float(np.mean([r['iou'] for r in rows_of])),
                 PointM=100 * float(np.mean([r['pointm_hit'] for r in rows_of])))
            for family, rows_of in ordered + [('all', list(results))]]


def _family(expr: Expression) -> str:
    if expr.relation is not None:
        return 'relation'
    if expr.target.hpos is not None or expr.target.vpos is not None:
        return 'position'
    return 'short' if expr.target.num_attributes() <= 2 else 'attributes'


def _statistics(refs: list[dict], images: list[dict], annotations: list[dict],
                family_counts: dict[str, int], fn_rate: dict[str, float], seed: int,
                image_size: int, batch_size: int) -> dict[str, Any]:
    split_images = {s: {r['image_id'] for r in refs if r['split'] == s} for s in SPLITS}
    sentences = [s['tokens'] for r in refs for s in r['sentences']]
    return {
        'generator_version': GENERATOR_VERSION,
        'seed': seed,
        'image_size': image_size,
        'num_images': len(images),
        'num_annotations': len(annotations),
        'splits': {s: {'images': len(split_images[s]),
                       'refs': sum(r['split'] == s for r in refs),
                       'sentences': sum(len(r['sentences']) for r in refs
                                        if r['split'] == s)} for s in SPLITS},
        'sentence_families': family_counts,
        'mean_sentence_words': round(float(np.mean([len(t) for t in sentences])), 2)
        if sentences else 0.0,
        'batch_size': batch_size,
        # Share of train sentences that also describe a shape of another image of a
        # random batch ("any"), or describe exactly one shape there ("unique").
        'batch_false_negative_rate': fn_rate,
    }


def _write_readme(path: Path, stats: dict[str, Any]) -> None:
    lines = [
        '# Synthetic referring segmentation dataset',
        '',
        f"Generated by `sgseg.datasets.synthetic` version {stats['generator_version']} "
        f"with seed {stats['seed']}: {stats['num_images']} images of "
        f"{stats['image_size']}x{stats['image_size']} pixels, "
        f"{stats['num_annotations']} shape annotations.",
        '',
        'RefCOCO release layout: `instances.json` (COCO), `refs(unc).p`, `images/`. '
        'testA and testB follow the same distribution. Every sentence names exactly one '
        'shape of its image.',
        '',
        '| split | images | refs | sentences |',
        '|---|---|---|---|',
    ]
    lines += [f"| {s} | {v['images']} | {v['refs']} | {v['sentences']} |"
              for s, v in stats['splits'].items()]
    fn = stats['batch_false_negative_rate']
    lines += ['', f"Batch false-negative rate (batch {stats['batch_size']}): "
              f"{fn['any']:.1%} of train sentences also fit another image of the batch "
              f"({fn['unique']:.1%} as an unambiguous reference). See `stats.json`.", '']
    path.write_text('\n'.join(lines))


def is_current(folder: str | Path) -> bool:
    """Whether ``folder`` holds a complete dataset of this generator version with the
    default sentence families (``stats.json`` is written after the annotations)."""
    stats_file = Path(folder) / 'stats.json'
    if not (Path(folder) / 'refs(unc).p').is_file() or not stats_file.is_file():
        return False
    try:
        stats = json.loads(stats_file.read_text())
    except json.JSONDecodeError:
        return False
    return (stats.get('generator_version') == GENERATOR_VERSION
            and stats.get('family_weights') == _FAMILY_WEIGHTS)


def parse_family_weights(items: Sequence[str]) -> dict[str, float]:
    """``['relation=0.2', 'attributes=0.5']`` as ``{'relation': 0.2, ...}``.

    Raises:
        ValueError: naming the item that is not ``FAMILY=WEIGHT`` with a known family
            and a non-negative number, or when every weight is zero.
    """
    weights = {}
    for item in items:
        family, _, value = item.partition('=')
        if family not in _FAMILY_WEIGHTS:
            raise ValueError(f'--family-weights {item!r}: the family must be one of '
                             f'{", ".join(_FAMILY_WEIGHTS)}')
        try:
            weights[family] = float(value)
        except ValueError:
            raise ValueError(f'--family-weights {item!r}: expected FAMILY=WEIGHT with a '
                             'number') from None
        if not weights[family] >= 0:
            raise ValueError(f'--family-weights {item!r}: a weight cannot be negative')
    if not sum(weights.values()) > 0:
        raise ValueError(f'--family-weights {" ".join(items)}: some weight must be > 0')
    return weights


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Command-line entry point; see ``--help``.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        The dataset statistics.
    """
    parser = argparse.ArgumentParser(
        description='Generate the synthetic referring dataset (RefCOCO format by default).')
    parser.add_argument('--out', default='data/synthetic_refer', help='output folder')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=4000, help='train images')
    parser.add_argument('--num-val', type=int, default=300, help='val images')
    parser.add_argument('--num-test', type=int, default=150,
                        help='images of each of testA and testB')
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--refs-per-image', type=int, nargs=2, default=(1, 3),
                        metavar=('MIN', 'MAX'),
                        help='shapes referred to per image (at most the shapes that '
                             'can be told apart; an image has 3 to 5 shapes)')
    parser.add_argument('--sents-per-ref', type=int, nargs=2, default=(1, 2),
                        metavar=('MIN', 'MAX'), help='sentences per referred shape')
    parser.add_argument('--family-weights', nargs='+', metavar='FAMILY=WEIGHT',
                        help='sampling weights of the sentence families, e.g. '
                             'relation=0.2 attributes=0.5 (default: '
                             + ' '.join(f'{k}={v}' for k, v in _FAMILY_WEIGHTS.items())
                             + '; a family left out is not used)')
    parser.add_argument('--format', default='refer', choices=['refer', 'jsonl', 'csv', 'wds'],
                        help='refer: instances.json + refs(unc).p (the default); jsonl/csv: '
                             'one image-text file per split (<split>.jsonl/.csv, masks as '
                             'polygons); wds: the jsonl files and the train split as '
                             'WebDataset shards (shards/train-*.tar)')
    parser.add_argument('--shard-size', type=int, default=250,
                        help='images per shard with --format wds')
    args = parser.parse_args(argv)
    weights = parse_family_weights(args.family_weights) if args.family_weights else None
    start = time.perf_counter()
    for name, (low, high) in (('--refs-per-image', args.refs_per_image),
                              ('--sents-per-ref', args.sents_per_ref)):
        if not 1 <= low <= high:
            parser.error(f'{name} {low} {high}: need 1 <= MIN <= MAX')
    stats = make_synthetic_refer(args.out, args.num_train, args.num_val, args.num_test,
                                 args.image_size, args.seed,
                                 max_refs_per_image=args.refs_per_image[1],
                                 max_sents_per_ref=args.sents_per_ref[1],
                                 min_refs_per_image=args.refs_per_image[0],
                                 min_sents_per_ref=args.sents_per_ref[0],
                                 family_weights=weights)
    if args.format != 'refer':
        # Imported here: the refer format needs neither mmengine nor webdataset.
        from sgseg.datasets.converters import rewrite_refer_as
        written = rewrite_refer_as(args.out, args.format, args.shard_size)
        print(f'{args.format}: wrote ' + ', '.join(Path(p).name for p in written))
    fn = stats['batch_false_negative_rate']
    print(f"wrote {stats['num_images']} images, "
          f"{sum(v['sentences'] for v in stats['splits'].values())} sentences to "
          f"{args.out} in {time.perf_counter() - start:.1f}s; batch false-negative rate "
          f"{fn['any']:.1%} (unique {fn['unique']:.1%})")
    return stats


if __name__ == '__main__':
    main()
