"""Sentence writing: surface forms of phrases and expressions (:func:`describe`) and the
choice of expressions that identify a shape (:func:`refer`)."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from .attributes import COLOURS, RELATIONS, ShapeInfo
from .expressions import Expression, Phrase, _band, identifies, phrase_matches, relation_holds

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

# Expression families and their sampling weights. A relational sentence names a second
# shape (the anchor) by colour and kind, which a model trained from sentences alone also
# attends to, so its mask covers both: with relations at 0.55 the embedded default
# reached PointM 37 on them against 60-68 on the other families. At 0.2 most sentences
# name the target alone; the rate of sentences that also fit another image of a batch
# rises (7.6% to 13.8% at batch 32), which the contrastive loss tolerates
# (docs/notes/embedded_default.md).
_FAMILY_WEIGHTS = {'relation': 0.2, 'position': 0.3, 'attributes': 0.45, 'short': 0.05}


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
