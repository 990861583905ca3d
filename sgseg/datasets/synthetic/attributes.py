"""What a synthetic scene is made of: shape kinds, colours, sizes, textures, and the
:class:`ShapeInfo` / :class:`Scene` records that rendering produces and sentences describe."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

# Written into every dataset's stats.json; a dataset of another version is regenerated.
GENERATOR_VERSION = '2.0.0'

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
SPLITS: tuple[str, ...] = ('train', 'val', 'testA', 'testB', 'heldout_phrasing')

# Shape radius as a fraction of the image side, per size class. The gap between the two
# ranges keeps "small" and "large" visually unambiguous.
_RADIUS_RANGE = {'small': (0.075, 0.095), 'large': (0.15, 0.18)}
# Every shape keeps at least this fraction of its pixels visible after occlusion.
_MIN_VISIBLE = 0.8


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
        area: Visible (not occluded) pixels as a fraction of the image's pixels, or
            ``None`` for a shape that was not rendered (a hand-built scene).
        bbox: ``(x0, y0, x1, y1)`` of the visible pixels as fractions of the image
            side (``x1``/``y1`` exclusive), or ``None`` like ``area``.
    """

    kind: str
    colour: str
    size: str
    texture: str
    x: float
    y: float
    area: Optional[float] = None
    bbox: Optional[tuple[float, float, float, float]] = None


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
