"""RandomFlipRefer: a horizontal flip that keeps the referring sentences true.

A mirrored image makes "the man on the left" false unless the sentence is mirrored
too. :func:`swap_left_right` rewrites a sentence word by word with the table
:data:`LEFT_RIGHT_SWAPS`; a sentence it cannot rewrite safely (a word of
:data:`FLIP_BLOCKING_WORDS`, or a "right" that may mean "directly") is not flipped.
"""
import re
from typing import Dict, List, Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from sgseg.registry import TRANSFORMS

# The swap table: every word that names a side, paired with its mirror word. A word is a
# run of letters, so a hyphen or punctuation separates words ("left-most" -> "right-most",
# "bottom-left" -> "bottom-right", "(left)" -> "(right)") while a word that merely
# contains one ("leftover", "bright", "righteous", "alright", "copyright", "eastern" is
# listed itself) never matches. Phrases need no entry of their own: "left side",
# "top left", "to the left of", "second from the left", "furthest to the left" are
# mirrored by their words. Case is kept ("Left" -> "Right", "LEFT" -> "RIGHT").
_MIRROR_PAIRS = (
    ('left', 'right'),
    ('leftmost', 'rightmost'),
    ('lefthand', 'righthand'),
    ('leftward', 'rightward'),
    ('leftwards', 'rightwards'),
    ('lefty', 'righty'),
    ('east', 'west'),
    ('eastern', 'western'),
    ('easternmost', 'westernmost'),
    ('eastward', 'westward'),
    ('eastwards', 'westwards'),
    ('northeast', 'northwest'),
    ('southeast', 'southwest'),
    ('northeastern', 'northwestern'),
    ('southeastern', 'southwestern'),
)
LEFT_RIGHT_SWAPS: Dict[str, str] = {
    **{a: b for a, b in _MIRROR_PAIRS}, **{b: a for a, b in _MIRROR_PAIRS}}

# Words a mirror makes false and the swap cannot rewrite: a sentence holding one is left
# unflipped. A rotation sense reverses in a mirror, and "counter-clockwise" splits into
# two words, so rotation words block the flip rather than being swapped.
FLIP_BLOCKING_WORDS = frozenset({'clockwise', 'counterclockwise', 'anticlockwise'})

# "right" that names no side: kept as it is ("a right angle", "the right triangle").
_RIGHT_NOT_A_SIDE_NEXT = frozenset({'angle', 'angled', 'angles', 'triangle', 'triangles'})
# "right" meaning "directly" ("the man right behind her"): when the next word is one of
# these and the word before is not one that introduces a side ("on the right behind",
# "top right above"), the sentence is ambiguous and left unflipped.
_RIGHT_ADVERB_NEXT = frozenset({
    'next', 'behind', 'beside', 'by', 'against', 'there', 'here', 'now', 'between',
    'across', 'through', 'up', 'down', 'near', 'above', 'below', 'under', 'underneath',
    'beneath', 'over', 'in', 'at', 'on', 'before', 'after', 'outside', 'inside', 'along',
    'around', 'into', 'onto', 'beyond'})
_SIDE_INTRODUCERS = frozenset({
    'the', 'to', 'on', 'at', 'far', 'very', 'extreme', 'top', 'bottom', 'upper', 'lower',
    'middle', 'center', 'centre', 'front', 'back', 'and', 'or', 'your', 'my', 'his', 'her',
    'its', 'their', 'our', 's', 'from', 'toward', 'towards'})

_WORD = re.compile(r'[^\W\d_]+')


def _match_case(source: str, word: str) -> str:
    """``word`` in the case pattern of ``source`` (lower, Capitalised or UPPER)."""
    if len(source) > 1 and source.isupper():
        return word.upper()
    if source[0].isupper():
        return word[0].upper() + word[1:]
    return word


def swap_left_right(text: str) -> Optional[str]:
    """The sentence of the mirrored image: every side word swapped with its mirror.

    Args:
        text: A referring sentence.

    Returns:
        The mirrored sentence (``text`` itself when it names no side), or ``None`` when
        the sentence cannot be mirrored safely: it holds a word of
        :data:`FLIP_BLOCKING_WORDS`, or a "right" that may mean "directly"
        ("the dog right behind the man").

    Examples:
        >>> swap_left_right('The man on the left-most side, bottom-left.')
        'The man on the right-most side, bottom-right.'
        >>> swap_left_right('leftover cake on the right') is not None
        True
    """
    matches = list(_WORD.finditer(text))
    words = [m.group().lower() for m in matches]
    if FLIP_BLOCKING_WORDS.intersection(words):
        return None
    pieces: List[str] = []
    end = 0
    for i, (match, word) in enumerate(zip(matches, words)):
        if word not in LEFT_RIGHT_SWAPS:
            continue
        if word == 'right':
            after = words[i + 1] if i + 1 < len(words) else None
            before = words[i - 1] if i > 0 else None
            if after in _RIGHT_NOT_A_SIDE_NEXT:
                continue
            if after in _RIGHT_ADVERB_NEXT and before not in _SIDE_INTRODUCERS:
                return None
        pieces += [text[end:match.start()], _match_case(match.group(), LEFT_RIGHT_SWAPS[word])]
        end = match.end()
    return ''.join(pieces) + text[end:]


def _mirror(array: np.ndarray) -> np.ndarray:
    """(H, W, ...) array mirrored left to right, contiguous (``mmcv.imflip`` is a view)."""
    return np.ascontiguousarray(mmcv.imflip(array, direction='horizontal'))


@TRANSFORMS.register_module()
class RandomFlipRefer(BaseTransform):
    """Flip the image horizontally with probability ``prob``, mirroring the sentences.

    A training augmentation (place it in a train pipeline only). The draw uses numpy's
    global generator, like mmcv's ``RandomFlip``, which the runner seeds and mmengine's
    ``worker_init_fn`` reseeds per dataloader worker, so a seeded run flips the same
    samples. One number is drawn per sample whatever its sentence, so a sentence that
    blocks the flip does not shift the draws of the samples after it. With ``prob=0``
    nothing is drawn and the sample is unchanged but for ``flip=False``.

    Each sentence is rewritten by :func:`swap_left_right`; if any sentence of the
    sample cannot be mirrored (it returns ``None``), the sample is left unflipped.

    Required keys: ``img`` (H, W, C); ``text`` or ``expressions`` (a list of dicts
    with ``text``).
    Modified keys (when flipped): ``img``, ``text`` (or each expression's ``text``),
    and, when present, ``gt_seg_map`` (H, W) and ``gt_ref_mask`` (H0, W0) (or each
    expression's): masks are mirrored at their own size, as a flip commutes with
    resizing.
    Added keys: ``flip`` (bool) and ``flip_direction`` (``'horizontal'`` or ``None``),
    as mmcv's ``RandomFlip`` records them (``PackRefSegInputs`` puts both in the
    metainfo).

    Args:
        prob: probability of flipping a sample, in [0, 1].
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomFlipRefer: prob must be in [0, 1], got {prob!r}')
        self.prob = float(prob)

    @cache_randomness
    def _draw(self) -> bool:
        """Whether to flip this sample (consumes one draw unless ``prob`` is 0)."""
        return self.prob > 0 and bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        """Flip ``results`` with probability ``prob``.

        Args:
            results: the sample dict after loading (and usually resizing).

        Returns:
            The sample dict, with ``flip`` and ``flip_direction``.
        """
        targets = results['expressions'] if 'expressions' in results else [results]
        for target in targets:
            if not isinstance(target.get('text'), str):
                raise KeyError(
                    f"RandomFlipRefer: sample '{results.get('img_path')}' has no sentence "
                    "('text'); place it after the dataset has drawn the sentence")
        flip = self._draw()
        mirrored = [swap_left_right(t['text']) for t in targets] if flip else []
        flip = flip and all(m is not None for m in mirrored)
        results['flip'] = flip
        results['flip_direction'] = 'horizontal' if flip else None
        if not flip:
            return results
        results['img'] = _mirror(results['img'])
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = _mirror(results['gt_seg_map'])
        for target, text in zip(targets, mirrored):
            target['text'] = text
            if target.get('gt_ref_mask') is not None:
                target['gt_ref_mask'] = _mirror(target['gt_ref_mask'])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
