"""Sentence writing: the surface forms of expressions (:func:`describe`) and the choice of
expressions that identify a shape (:func:`refer`).

Every concept has several surface forms: synonyms ("box" for square, "big" for large),
word orders ("the red star", "the red-coloured star", "the star that is red"), generic
nouns ("the red one", "the red item") and, for orders and relations, several templates
("the leftmost star", "the star on the far left", "the leftmost of the stars"). A few
forms, listed in :data:`HELDOUT_PHRASINGS`, are written only in the ``heldout_phrasing``
split; every concept they express is written in the other splits in another form.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from .attributes import COLOURS, RELATIONS, ShapeInfo
from .expressions import (ORDERS, Expression, Phrase, _band, identifies, phrase_matches,
                          relation_holds)

# Surface forms. The first entry of each list is the canonical word.
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    'circle': ('circle', 'disc', 'ball'), 'square': ('square', 'box'),
    'triangle': ('triangle',), 'star': ('star',), 'diamond': ('diamond', 'rhombus'),
    'cross': ('cross', 'plus sign'), 'ring': ('ring', 'donut', 'doughnut'),
    'hexagon': ('hexagon',), 'heart': ('heart',),
    'crescent': ('crescent', 'moon', 'crescent moon'), 'oval': ('oval', 'ellipse'),
    'arrow': ('arrow',),
    'pentagon': ('pentagon',), 'octagon': ('octagon',), 'rectangle': ('rectangle',),
    'semicircle': ('semicircle',), 'trapezoid': ('trapezoid',), 'cloud': ('cloud',),
}
_GENERIC_NOUNS = ('shape', 'one', 'object', 'thing', 'item', 'figure')
_GENERIC_PLURALS = ('shapes', 'objects', 'things', 'items', 'figures')
_COLOUR_WORDS: dict[str, tuple[str, ...]] = {c: (c,) for c in COLOURS}
_COLOUR_WORDS['purple'] = ('purple', 'violet')
_COLOUR_WORDS['cyan'] = ('cyan', 'turquoise')
_COLOUR_WORDS['grey'] = ('grey', 'gray')
_SIZE_WORDS = {'small': ('small', 'little', 'tiny'), 'large': ('large', 'big', 'huge')}
_TEXTURE_WORDS = {'solid': ('solid', 'plain'), 'striped': ('striped', 'stripy'),
                  'checkered': ('checkered', 'chequered', 'checkerboard')}
# Texture after the noun: "the star with stripes".
_TEXTURE_AFTER = {'solid': ('with no pattern',),
                  'striped': ('with stripes', 'with a striped pattern'),
                  'checkered': ('with a checkered pattern', 'with checks')}
_RELATION_WORDS = {
    'left': ('left of', 'to the left of', 'on the left of', 'on the left side of'),
    'right': ('right of', 'to the right of', 'on the right of', 'on the right side of'),
    'above': ('above', 'over'),
    'below': ('below', 'under', 'beneath', 'underneath'),
    'near': ('next to', 'near', 'beside', 'close to', 'by', 'nearest to', 'closest to'),
}
# Words between a target phrase and its relation ("the star that is left of ...").
_CONNECTORS = ('', '', '', 'that is', 'which is', 'located', 'placed')
# Superlatives: adjectives before the noun, and phrases after it.
_SUPERLATIVES = {
    'left': ('leftmost',), 'right': ('rightmost',),
    'top': ('topmost', 'highest', 'uppermost'), 'bottom': ('lowest', 'bottommost', 'bottom-most'),
    'large': ('biggest', 'largest'), 'small': ('smallest', 'tiniest'),
}
_SUPERLATIVES_AFTER = {
    'left': ('on the far left',), 'right': ('on the far right',),
    'top': ('at the very top', 'nearest the top'),
    'bottom': ('at the very bottom', 'nearest the bottom'),
}
_SIDE = {'left': 'left', 'right': 'right', 'top': 'top', 'bottom': 'bottom'}
_COMPARATIVES = {'large': ('bigger', 'larger'), 'small': ('smaller',),
                 'top': ('upper', 'higher'), 'bottom': ('lower',),
                 'left': ('left',), 'right': ('right',)}
_ORDINALS = {2: 'second', 3: 'third'}

_COLOUR_PATTERN = '|'.join(w for ws in _COLOUR_WORDS.values() for w in ws)
# The phrasings of the heldout_phrasing split, never written in any other split:
# form id -> (a pattern that finds it in a sentence, what the other splits write instead).
# Every concept of a held-out sentence is trained in another form; docs/notes/
# synthetic_data.md lists the same table.
HELDOUT_PHRASINGS: dict[str, tuple[str, str]] = {
    'furthest to the': (r'\bfurthest to the\b',
                        'the leftmost star, the star on the far left'),
    'colour after noun': (rf'\bin (?:{_COLOUR_PATTERN})\b',
                          'the red star, the red-coloured star, the star that is red'),
    'whose colour is': (r'\bwhose colour is\b', 'the star that is red'),
    'closest to': (r'\bclosest to\b', 'next to, nearest to, near, beside, close to, by'),
    'of the pair': (r'\bof the pair\b', 'the bigger of the two stars'),
    'counting from the': (r'\bcounting from the\b', 'the second star from the left'),
    'ball': (r'\bballs?\b', 'circle, disc'),
    'rhombus': (r'\brhombus(?:es)?\b', 'diamond'),
    'huge': (r'\bhuge\b', 'large, big'),
}
HELDOUT_PATTERNS = {form: re.compile(p) for form, (p, _) in HELDOUT_PHRASINGS.items()}

# Expression families and their sampling weights, balanced between naming the target
# alone (attributes, short, position, superlative, ordinal, comparative) and through an
# anchor shape (relation, near). A relational sentence names a second shape, which a
# model trained from sentences alone also attends to, so its mask covers both: with
# relations at 0.55 the embedded default reached PointM 37 on them against 60-68 on the
# other families (docs/notes/embedded_default.md); anchors stay at about a quarter.
# Families that a scene often cannot support (comparatives need exactly two shapes
# that fit a phrase) are drawn more often than their share. Superlatives and ordinals
# are kept near 6 % each: most of them ("the leftmost one") also fit every other image of
# a batch, and with them at 13 % and 11 % (generator 2.2) the embedded default did not
# learn to ground at all in 2000-2400 iterations (val mIoU 9-13 against 32 at 7 % and 6 %;
# docs/notes/synthetic_data.md).
_FAMILY_WEIGHTS = {'attributes': 0.17, 'short': 0.09, 'position': 0.16, 'relation': 0.13,
                   'near': 0.11, 'superlative': 0.07, 'ordinal': 0.06, 'comparative': 0.10}
FAMILIES: tuple[str, ...] = tuple(_FAMILY_WEIGHTS)
# The train split's weights: only the families that name the target by its own
# attributes and place (attributes, short, position). A contrastive loss between whole
# images and sentences cannot see a choice between the shapes of one image: trained on
# the comparison families (superlative, ordinal, comparative; most of them also fit every
# other image of a batch) the embedded default learned to ignore what they say, and
# trained without them it scored higher on them (17-26 mIoU against 8-9) and on val as a
# whole; relations and nearness, which name a second shape, scored no lower untrained
# (docs/notes/embedded_default.md).
TRAIN_LEFT_OUT = ('relation', 'near', 'superlative', 'ordinal', 'comparative')
_TRAIN_FAMILY_WEIGHTS = {f: w for f, w in _FAMILY_WEIGHTS.items() if f not in TRAIN_LEFT_OUT}


# ------------------------------------------------------------------------------- writing


class _Writer:
    """Chooses among surface forms and remembers the held-out ones it used.

    Args:
        rng: Chooses among the forms.
        heldout: False never chooses a form of :data:`HELDOUT_PHRASINGS`; True prefers
            one (half the time) wherever one is available.
    """

    def __init__(self, rng: np.random.Generator, heldout: bool) -> None:
        self.rng, self.heldout = rng, heldout
        self.used: set[str] = set()

    def pick(self, options: Sequence[str]) -> str:
        """One of ``options`` (repeat an option to weight it)."""
        held = [o for o in options if o in HELDOUT_PHRASINGS]
        if not self.heldout:
            options = [o for o in options if o not in HELDOUT_PHRASINGS]
        elif held and self.rng.random() < 0.5:
            options = held
        choice = options[int(self.rng.integers(len(options)))]
        if choice in HELDOUT_PHRASINGS:
            self.used.add(choice)
        return choice

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


def _plural(noun: str) -> str:
    return noun + ('es' if noun.endswith(('s', 'x', 'sh', 'ch')) else 's')


def _phrase_text(w: _Writer, phrase: Phrase, plural: bool = False,
                 clause: bool = True) -> tuple[str, bool]:
    """Surface form of a phrase without its article and position.

    Args:
        w: The writer.
        phrase: The phrase.
        plural: Write the plural ("stars that are red").
        clause: Whether attributes may go to a relative clause.

    Returns:
        The text and whether it ends in a relative clause.
    """
    if phrase.kind is not None:
        noun = w.pick(_KIND_WORDS[phrase.kind])
        if w.chance(0.1):
            noun += ' shape'
        noun = _plural(noun) if plural else noun
    else:
        noun = w.pick(_GENERIC_PLURALS if plural else _GENERIC_NOUNS)
    before, after, clauses = [], [], []
    whose = None
    if phrase.size is not None:
        word = w.pick(_SIZE_WORDS[phrase.size])
        (clauses if clause and w.chance(0.2) else before).append(word)
    if phrase.texture is not None:
        where = w.pick(('before', 'before', 'clause', 'after') if clause
                       else ('before', 'before', 'after'))
        if where == 'after':
            after.append(w.pick(_TEXTURE_AFTER[phrase.texture]))
        elif where == 'clause':  # "that is checkered", never "that is checkerboard"
            clauses.append(w.pick(_TEXTURE_WORDS[phrase.texture][:2]))
        else:
            before.append(w.pick(_TEXTURE_WORDS[phrase.texture]))
    if phrase.colour is not None:
        forms = ['before'] * 4 + ['coloured', 'colour after noun']
        if clause:
            forms += ['clause', 'clause', 'whose colour is']
        form = w.pick(forms)
        word = w.pick(_COLOUR_WORDS[phrase.colour])
        if form == 'before':
            before.append(word)
        elif form == 'coloured':
            before.append(word + w.pick(('-coloured', '-colored', ' coloured')))
        elif form == 'colour after noun':
            after.insert(0, 'in ' + word)
        elif form == 'clause':
            clauses.append(word)
        else:
            whose = word
    words = before + [noun] + after
    if clauses:
        be = 'are' if plural else 'is'
        words += [w.pick(('that', 'which')), be, ' and '.join(clauses)]
    if whose is not None:
        words += ['whose colour is', whose]
    return ' '.join(words), bool(clauses) or whose is not None


def _position_text(w: _Writer, hpos: Optional[str], vpos: Optional[str]) -> str:
    if hpos == 'middle' and vpos == 'middle':
        return w.pick(('in the center', 'in the middle', 'in the centre', 'at the centre',
                       'in the middle of the image'))
    if hpos is not None and vpos is not None:
        v = w.pick((vpos, {'top': 'upper', 'bottom': 'lower'}[vpos]))
        return w.pick((f'in the {v} {hpos} corner', f'at the {v} {hpos}', f'{v} {hpos}',
                       f'in the {v} {hpos}'))
    if hpos is not None:
        return w.pick((f'on the {hpos}', f'on the {hpos} side', f'at the {hpos}',
                       f'on the {hpos} side of the image', f'in the {hpos} part of the image'))
    assert vpos is not None
    part = {'top': 'upper', 'bottom': 'lower'}[vpos]
    return w.pick((f'at the {vpos}', f'near the {vpos}', f'at the {vpos} of the image',
                   f'in the {part} part of the image'))


def _order_text(w: _Writer, expr: Expression) -> str:
    """A superlative, ordinal or comparative expression."""
    order, target = expr.order, expr.target
    assert order is not None
    positional = order in _SIDE
    if expr.of_two:
        word = w.pick(_COMPARATIVES[order])
        # "the left of the two" reads as a place: left and right take "one".
        one = 'one ' if order in ('left', 'right') else ''
        forms = ['of the two', 'of the two', 'of the pair']
        if not one:
            forms += ['one of the two', 'before']
        form = w.pick(forms)
        if form == 'before':
            return f'the {word} {_phrase_text(w, target)[0]}'
        plural = _phrase_text(w, target, plural=True)[0]
        if form == 'of the pair':
            return f'the {word} {one}of the pair of {plural}'
        return f'the {word} {"one " if form == "one of the two" else one}of the two {plural}'
    if expr.rank > 1:
        nth = _ORDINALS[expr.rank]
        forms = ['nth superlative', 'nth superlative of the']
        if positional:
            forms += ['nth from', 'nth from', 'after noun from', 'counting from the']
        form = w.pick(forms)
        if form in ('nth from', 'counting from the'):
            counting = 'counting ' if form == 'counting from the' else ''
            return (f'the {nth} {_phrase_text(w, target, clause=False)[0]} '
                    f'{counting}from the {_SIDE[order]}')
        if form == 'after noun from':
            text = _phrase_text(w, target, clause=False)[0]
            return f'the {text} {nth} from the {_SIDE[order]}'
        sup = w.pick(_SUPERLATIVES[order])
        if form == 'nth superlative':
            return f'the {nth} {sup} {_phrase_text(w, target)[0]}'
        return f'the {nth} {sup} of the {_phrase_text(w, target, plural=True)[0]}'
    forms = ['before'] * 3 + ['of the']
    if positional:
        forms += ['after', 'furthest to the'] if order in _SUPERLATIVES_AFTER else []
    form = w.pick(forms)
    if form == 'before':
        return f'the {w.pick(_SUPERLATIVES[order])} {_phrase_text(w, target)[0]}'
    if form == 'of the':
        return (f'the {w.pick(_SUPERLATIVES[order])} of the '
                f'{_phrase_text(w, target, plural=True)[0]}')
    text = _phrase_text(w, target, clause=False)[0]
    if form == 'after':
        return f'the {text} {w.pick(_SUPERLATIVES_AFTER[order])}'
    return f'the {text} furthest to the {_SIDE[order]}'


def write_sentence(rng: np.random.Generator, expr: Expression,
                   heldout: bool = False) -> tuple[str, frozenset[str]]:
    """Renders an expression as a lower-case sentence with randomly chosen wording.

    Args:
        rng: Chooses among synonyms, word orders and templates.
        expr: The expression.
        heldout: Whether forms of :data:`HELDOUT_PHRASINGS` may be used (and are
            preferred); they never are otherwise.

    Returns:
        The sentence and the held-out forms it uses.
    """
    w = _Writer(rng, heldout)
    if expr.order is not None:
        return _order_text(w, expr), frozenset(w.used)
    text, ends_in_clause = _phrase_text(w, expr.target)
    text = 'the ' + text
    if expr.target.hpos is not None or expr.target.vpos is not None:
        connector = '' if ends_in_clause else w.pick(('', '', '', 'that is', 'located'))
        position = _position_text(w, expr.target.hpos, expr.target.vpos)
        text = ' '.join(filter(None, (text, connector, position)))
        ends_in_clause = ends_in_clause or bool(connector)
    if expr.relation is not None:
        assert expr.anchor is not None
        connector = '' if ends_in_clause else w.pick(_CONNECTORS)
        relation = w.pick(_RELATION_WORDS[expr.relation])
        anchor, _ = _phrase_text(w, expr.anchor, clause=False)
        text = ' '.join(filter(None, (text, connector, relation, 'the ' + anchor)))
    return text, frozenset(w.used)


def describe(rng: np.random.Generator, expr: Expression, heldout: bool = False) -> str:
    """The sentence of :func:`write_sentence` alone."""
    return write_sentence(rng, expr, heldout)[0]


# ------------------------------------------------------------------------ referring logic


_ATTRIBUTES = ('kind', 'colour', 'size', 'texture')
# Phrases of an ordered expression name little ("the leftmost one", "the biggest star",
# "the lowest striped one"): the attributes they may name.
_ORDER_SUBSETS = ((), ('kind',), ('colour',), ('texture',), ('size',), ('kind', 'colour'),
                  ('kind', 'texture'), ('colour', 'texture'), ('texture', 'size'))
_SIZE_ORDERS = ('large', 'small')


def _target_phrase(rng: np.random.Generator, shape: ShapeInfo, min_attributes: int) -> Phrase:
    """A phrase naming a random subset (colour and kind usually) of the shape's attributes
    (at most those it has: a shape between the size bands has no size word)."""
    keep = {'kind': rng.random() < 0.9, 'colour': rng.random() < 0.9,
            'size': rng.random() < 0.6 and shape.size is not None,
            'texture': rng.random() < 0.6}
    missing = [a for a in _ATTRIBUTES if not keep[a] and getattr(shape, a) is not None]
    rng.shuffle(missing)
    while sum(keep.values()) < min_attributes and missing:
        keep[missing.pop()] = True
    return Phrase(**{a: getattr(shape, a) for a in _ATTRIBUTES if keep[a]})


def _subset_phrase(rng: np.random.Generator, shape: ShapeInfo, chances: dict[str, float],
                   leave_out: Sequence[str] = ()) -> Phrase:
    """A phrase naming each attribute of ``shape`` with its chance."""
    return Phrase(**{a: getattr(shape, a) for a, p in chances.items()
                     if rng.random() < p and a not in leave_out})


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


def _propose_order(rng: np.random.Generator, shapes: Sequence[ShapeInfo], target: int,
                   rank: int) -> Optional[Expression]:
    """A superlative (rank 1) or ordinal: random phrases that at least two shapes fit (an
    order over one shape says nothing) and random orders, the first that identifies the
    target."""
    shape = shapes[target]
    phrases = [p for p in (Phrase(**{a: getattr(shape, a) for a in subset})
                           for subset in _ORDER_SUBSETS)
               if sum(phrase_matches(p, s) for s in shapes) >= 2]
    orders = list(ORDERS) if shape.area is not None else list(ORDERS[:4])
    for _ in range(4 * rank if phrases else 0):  # a clear second is rarer than a first
        phrase = phrases[int(rng.integers(len(phrases)))]
        order = orders[int(rng.integers(len(orders)))]
        if order in _SIZE_ORDERS and phrase.size is not None:
            continue
        expr = Expression(phrase, order=order, rank=rank)
        if identifies(expr, shapes, target):
            return expr
    return None


def _propose_comparative(rng: np.random.Generator, shapes: Sequence[ShapeInfo],
                         target: int) -> Optional[Expression]:
    """A comparative: a phrase that exactly two shapes fit, and an order that tells the
    target from the other one."""
    shape = shapes[target]
    pairs = []
    for subset in _ORDER_SUBSETS:
        phrase = Phrase(**{a: getattr(shape, a) for a in subset})
        if sum(phrase_matches(phrase, s) for s in shapes) == 2:
            pairs.append(phrase)
    if not pairs:
        return None
    phrase = pairs[int(rng.integers(len(pairs)))]
    orders = list(ORDERS) if shape.area is not None else list(ORDERS[:4])
    for i in rng.permutation(len(orders)):
        if orders[i] in _SIZE_ORDERS and phrase.size is not None:
            continue
        expr = Expression(phrase, order=orders[i], of_two=True)
        if identifies(expr, shapes, target):
            return expr
    return None


def _propose(rng: np.random.Generator, family: str, shapes: Sequence[ShapeInfo],
             target: int) -> Optional[Expression]:
    """One random expression of a family for the target, completed to be unambiguous."""
    shape = shapes[target]
    if family == 'short':
        # One or two attributes: "the red star", "the striped one", "the big box".
        chances = {'kind': 0.9, 'colour': 0.8, 'size': 0.15, 'texture': 0.15}
        for _ in range(3):
            phrase = _subset_phrase(rng, shape, chances)
            if 1 <= phrase.num_attributes() <= 2 and identifies(Expression(phrase), shapes,
                                                                 target):
                return Expression(phrase)
        return None
    if family == 'attributes':
        return _complete(rng, Expression(_target_phrase(rng, shape, 3)), shapes, target)
    if family == 'position':
        options = _positions(shape)
        if not options:
            return None
        hpos, vpos = options[int(rng.integers(len(options)))]
        phrase = replace(_target_phrase(rng, shape, 2), hpos=hpos, vpos=vpos)
        return _complete(rng, Expression(phrase), shapes, target)
    if family in ('superlative', 'ordinal'):
        return _propose_order(rng, shapes, target,
                              1 if family == 'superlative' else 2 + int(rng.random() < 0.2))
    if family == 'comparative':
        return _propose_comparative(rng, shapes, target)
    if family == 'near':
        others = [j for j in range(len(shapes)) if j != target]
        j = others[int(rng.integers(len(others)))]
        anchor = _anchor_phrase(shapes, j, rng)
        if anchor is None:
            return None
        phrase = _subset_phrase(rng, shape, {'kind': 0.5, 'colour': 0.3})
        return _complete(rng, Expression(phrase, 'near', anchor), shapes, target)
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
        family_weights: Sampling weight of each expression family (:data:`FAMILIES`);
            defaults to ``_FAMILY_WEIGHTS``. A family left out is never used.

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


def expression_family(expr: Expression) -> str:
    """The family (one of :data:`FAMILIES`) an expression belongs to."""
    if expr.relation == 'near':
        return 'near'
    if expr.relation is not None:
        return 'relation'
    if expr.of_two:
        return 'comparative'
    if expr.order is not None:
        return 'superlative' if expr.rank == 1 else 'ordinal'
    if expr.target.hpos is not None or expr.target.vpos is not None:
        return 'position'
    return 'short' if expr.target.num_attributes() <= 2 else 'attributes'
