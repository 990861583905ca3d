"""Reading a generated sentence back into its :class:`Expression`."""
from __future__ import annotations

import re
from typing import Optional

from .expressions import Expression, Phrase
from .grammar import _COLOUR_WORDS, _KIND_WORDS, _SIZE_WORDS, _TEXTURE_WORDS

_RELATION_PATTERN = re.compile(
    r'\b(?:(?:to|on) the )?(left|right) of\b|\b(above|below|under|beneath|underneath)\b')
_CLAUSE_PATTERN = re.compile(r'\b(?:that|which) is\b')


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
