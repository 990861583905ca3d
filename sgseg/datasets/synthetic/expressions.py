"""Referring expressions and their meaning: a :class:`Phrase` names attributes of a shape,
an :class:`Expression` a target phrase, optionally related to an anchor shape (left of,
above, next to it) or ordered among the shapes that fit it (the leftmost, the second
biggest, the smaller of the two), and :func:`identifies` proves that an expression names
exactly one shape of a scene, by a clear margin."""
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
# Orders (superlatives, ordinals, comparatives) and nearness need a clear winner: the
# next shape in the order lies at least this much further along it.
_ORDER_MARGIN = 0.08  # position orders, as a fraction of the image side
_SIZE_RATIO = 1.5  # size orders: visible area ratio
_NEAR_RATIO = 1.5  # nearness: the second-closest shape is this many times further ...
_NEAR_MARGIN = 0.08  # ... and at least this much further

# An order sorts shapes by a key, smallest first: 'left' puts the leftmost first.
ORDERS: tuple[str, ...] = ('left', 'right', 'top', 'bottom', 'large', 'small')


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
        relation: One of :data:`RELATIONS` (target relative to anchor), ``'near'`` (the
            shape fitting ``target`` closest to the anchor) or ``None``.
        anchor: The phrase naming the anchor shape when ``relation`` is set.
        order: One of :data:`ORDERS`: the target is the ``rank``-th of the shapes that
            fit ``target`` in that order ("the leftmost star", "the second biggest
            one"); ``None`` for no order.
        rank: 1 for a superlative, 2 or 3 for an ordinal.
        of_two: A comparative ("the bigger of the two stars"): exactly two shapes fit
            ``target``.
    """

    target: Phrase
    relation: Optional[str] = None
    anchor: Optional[Phrase] = None
    order: Optional[str] = None
    rank: int = 1
    of_two: bool = False


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
        slack: ``0`` for the plain reading, ``-1`` strict, ``+1`` loose (positions, and
            size words for a shape of no size class; the other attributes are discrete).

    Returns:
        True if every attribute named by the phrase holds for the shape.
    """
    for attr in ('kind', 'colour', 'size', 'texture'):
        wanted, have = getattr(phrase, attr), getattr(shape, attr)
        # A shape between the size bands (size None) is neither clearly small nor
        # clearly large: only the loose reading lets a size word name it.
        if wanted is not None and have != wanted and not (
                attr == 'size' and have is None and slack > 0):
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


def _order_keys(order: str, shape: ShapeInfo) -> tuple[float, float]:
    """Sort keys of a shape in an order, in units of that order's margin: the centre (or
    the area) and the near edge of the bounding box (the centre again without a box)."""
    if order in ('large', 'small'):
        if shape.area is None:
            raise ValueError(f'size order {order!r} on a shape without an area: {shape}; '
                             'give ShapeInfo.area (rendered scenes have it)')
        key = math.log(shape.area) / math.log(_SIZE_RATIO)
        key = -key if order == 'large' else key
        return key, key
    axis = 0 if order in ('left', 'right') else 1
    centre = (shape.x, shape.y)[axis]
    if order in ('left', 'top'):
        edge = centre if shape.bbox is None else shape.bbox[axis]
        return centre / _ORDER_MARGIN, edge / _ORDER_MARGIN
    edge = centre if shape.bbox is None else shape.bbox[axis + 2]
    return -centre / _ORDER_MARGIN, -edge / _ORDER_MARGIN


def _ranked(order: str, rank: int, candidates: list[int], shapes: Sequence[ShapeInfo],
            slack: float) -> list[int]:
    """The ``rank``-th of ``candidates`` in ``order`` (by centre, or by area).

    The plain and strict readings give that shape; the loose reading also gives every
    candidate not clearly before or after it: less than one margin away by centre, or
    less than half a margin by the near edge of the box (a large shape can reach further
    left than a small one whose centre is further left). A unique answer on the loose
    reading is a clear winner.
    """
    if len(candidates) < rank:
        return []
    keys = {i: _order_keys(order, shapes[i]) for i in candidates}
    ranked = sorted(candidates, key=lambda i: keys[i][0])
    centre, edge = keys[ranked[rank - 1]]
    if slack > 0:
        return [i for i in candidates
                if not ((keys[i][0] - centre >= 1.0 and keys[i][1] - edge >= 0.5)
                        or (keys[i][0] - centre <= -1.0 and keys[i][1] - edge <= -0.5))]
    return [i for i in candidates if keys[i][0] == centre]


def _nearest(candidates: list[int], anchor: ShapeInfo, shapes: Sequence[ShapeInfo],
             slack: float) -> list[int]:
    """The candidates closest to ``anchor``; on the loose reading also every candidate
    not clearly further away (within :data:`_NEAR_RATIO` and :data:`_NEAR_MARGIN`)."""
    if not candidates:
        return []
    dist = {i: math.hypot(shapes[i].x - anchor.x, shapes[i].y - anchor.y) for i in candidates}
    best = min(dist.values())
    if slack > 0:
        bound = max(best * _NEAR_RATIO, best + _NEAR_MARGIN)
        return [i for i in candidates if dist[i] < bound]
    return [i for i in candidates if dist[i] == best]


def matching_shapes(expr: Expression, shapes: Sequence[ShapeInfo],
                    slack: float = 0.0) -> list[int]:
    """Indices of the shapes that an expression describes.

    Args:
        expr: The expression.
        shapes: All shapes of one image.
        slack: ``0`` plain, ``-1`` strict, ``+1`` loose (see :func:`phrase_matches`;
            the loose reading of an order or of nearness also keeps the shapes that are
            not clearly behind the winner).

    Returns:
        Indices of the shapes that fit the target phrase and, with a relation, stand in
        that relation to some other shape fitting the anchor phrase; with an order, the
        ones of the fitting shapes at the expression's rank.
    """
    if expr.relation == 'near':
        assert expr.anchor is not None
        near: set[int] = set()
        for j, anchor in enumerate(shapes):
            if phrase_matches(expr.anchor, anchor, slack):
                near.update(_nearest([i for i, s in enumerate(shapes)
                                      if i != j and phrase_matches(expr.target, s, slack)],
                                     anchor, shapes, slack))
        return sorted(near)
    if expr.order is not None:
        candidates = [i for i, s in enumerate(shapes) if phrase_matches(expr.target, s, slack)]
        if expr.of_two and len(candidates) != 2:
            return []
        return _ranked(expr.order, expr.rank, candidates, shapes, slack)
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
        if len([s for s in shapes if phrase_matches(expr.anchor, s, 1.0)]) != 1:
            return False
    return (matching_shapes(expr, shapes, slack=-1.0) == [target]
            and matching_shapes(expr, shapes, slack=1.0) == [target])
