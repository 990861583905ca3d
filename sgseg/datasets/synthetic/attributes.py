"""What a synthetic scene is made of: shape kinds, colours, sizes, textures, and the
:class:`ShapeInfo` / :class:`Scene` records that rendering produces and sentences describe."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

# Written into every dataset's stats.json; a dataset of another version is regenerated.
GENERATOR_VERSION = '2.5.0'

KINDS: tuple[str, ...] = ('circle', 'square', 'triangle', 'star', 'diamond', 'cross',
                          'ring', 'hexagon', 'heart', 'crescent', 'oval', 'arrow',
                          'pentagon', 'octagon', 'rectangle', 'semicircle', 'trapezoid',
                          'cloud')
# RGB centres of the colours, each named as people name colours. Every pair of centres is
# at least 80 apart (Euclidean RGB; tests/test_datasets/test_synthetic.py checks it) and a
# drawn shape moves its colour by at most 17 (10 per channel), so two drawn colours stay
# at least 46 apart. The neutral colours (white, grey, black) and the dark ones are kept
# off backgrounds they would blend into by choosing each image's colours after its
# background; the saturated ones are far from every background, which is desaturated.
COLOURS: dict[str, tuple[int, int, int]] = {
    'red': (220, 30, 35),
    'orange': (250, 140, 20),
    'yellow': (245, 225, 30),
    'green': (40, 170, 60),
    'cyan': (20, 205, 215),
    'blue': (30, 70, 225),
    'purple': (120, 40, 210),
    'pink': (245, 110, 190),
    'brown': (145, 85, 30),
    'white': (245, 245, 245),
    'grey': (128, 128, 128),
    'black': (25, 25, 25),
    'magenta': (215, 25, 215),
    'teal': (0, 128, 128),
    'lime': (160, 235, 50),
    'navy': (20, 30, 120),
    'maroon': (115, 10, 45),
}
SIZES: tuple[str, ...] = ('small', 'large')
TEXTURES: tuple[str, ...] = ('solid', 'striped', 'checkered')
RELATIONS: tuple[str, ...] = ('left', 'right', 'above', 'below')
SPLITS: tuple[str, ...] = ('train', 'val', 'testA', 'testB', 'heldout_phrasing',
                           'heldout_scenes')

# Rendering styles. A background family is chosen per image, a fill per shape; a drop
# shadow is an effect on the whole image.
BACKGROUNDS: tuple[str, ...] = ('flat', 'gradient', 'radial', 'blotches', 'noise', 'grid',
                                'dots')
FILLS: tuple[str, ...] = ('flat', 'gradient', 'outlined')
EFFECTS: tuple[str, ...] = ('shadow',)
# Styles that no train, val or test image shows; every image of the heldout_scenes split
# shows at least one (docs/notes/synthetic_data.md):
#
# | axis       | held out     | seen in train/val/test                        |
# |------------|--------------|-----------------------------------------------|
# | background | grid, dots   | flat, gradient, radial, blotches, noise        |
# | effect     | shadow       | (none)                                        |
HELDOUT_STYLES: dict[str, tuple[str, ...]] = {
    'background': ('grid', 'dots'),
    'effect': ('shadow',),
}

# Shape radius as a fraction of the image side, per size class: a continuous spread with
# two gaps. Shapes between the bands (size ``None``) are never called small or large, and a
# sentence that calls a shape small or large is not used when such a medium shape could
# also be meant (the loose reading of :func:`~.expressions.phrase_matches`).
_RADIUS_BANDS: dict[Optional[str], tuple[float, float]] = {
    'small': (0.06, 0.09), None: (0.105, 0.125), 'large': (0.145, 0.19)}
# Every shape keeps at least this fraction of its pixels visible after occlusion.
_MIN_VISIBLE = 0.8


@dataclass(frozen=True)
class ShapeInfo:
    """Attributes of one drawn shape, as a sentence may refer to them.

    Attributes:
        kind: One of :data:`KINDS`.
        colour: One of :data:`COLOURS`.
        size: ``'small'``, ``'large'`` or ``None`` for a shape between the two (see
            ``_RADIUS_BANDS``).
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
    size: Optional[str]
    texture: str
    x: float
    y: float
    area: Optional[float] = None
    bbox: Optional[tuple[float, float, float, float]] = None


@dataclass(frozen=True)
class SceneStyle:
    """How one image was drawn.

    Attributes:
        background: One of :data:`BACKGROUNDS`.
        shadow: Whether the shapes cast soft drop shadows.
        antialias: Whether outlines were drawn anti-aliased.
        fills: One of :data:`FILLS` per shape, in drawing order.
    """

    background: str
    shadow: bool = False
    antialias: bool = True
    fills: tuple[str, ...] = ()

    def held_out(self) -> list[str]:
        """The styles of :data:`HELDOUT_STYLES` this image shows."""
        used = {'background': (self.background,), 'fill': self.fills,
                'effect': ('shadow',) if self.shadow else ()}
        return [s for axis, styles in HELDOUT_STYLES.items() for s in styles
                if s in used[axis]]

    def to_json(self) -> dict:
        """The style as written in an image entry of ``instances.json``."""
        return dict(background=self.background, shadow=self.shadow,
                    antialias=self.antialias, fills=list(self.fills))


@dataclass
class Scene:
    """A rendered image with its shapes in drawing order.

    Attributes:
        image: ``(H, W, 3)`` uint8 image in BGR order (OpenCV's convention).
        shapes: The shapes, bottom-most first.
        masks: Visible (not occluded) ``(H, W)`` uint8 masks, one per shape.
        style: How the image was drawn.
    """

    image: np.ndarray
    shapes: list[ShapeInfo]
    masks: list[np.ndarray]
    style: SceneStyle
