"""Referring expressions and their meaning: a :class:`Phrase` names attributes of a shape,
an :class:`Expression` a target phrase optionally related to an anchor, and
:func:`identifies` proves that an expression names exactly one shape of a scene."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from .attributes import ShapeInfo

# Position words use image thirds; a shape is only described by a position (or a
# relation) when it is clearly inside it, and a distractor must be clearly outside it.
_BAND_MARGIN = 0.05
_CONE_HALF_ANGLE = 45.0
_CONE_MARGIN = 15.0
_MIN_RELATION_DISTANCE = 0.12


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
