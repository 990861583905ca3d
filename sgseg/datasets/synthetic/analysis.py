"""Measurements on generated sentences: families, per-family results, sentence statistics,
and the rate of sentences that also fit another image of a training batch."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from .attributes import GENERATOR_VERSION, SPLITS, ShapeInfo
from .expressions import Expression, Phrase, matching_shapes
from .grammar import FAMILIES, expression_family
from .parser import parse_sentence

# The file beside refs(unc).p that records each sentence's expression and family.
SENTENCES_FILE = 'sentences.json'

# ------------------------------------------------------------------------- measurements


def batch_false_negative_rate(samples: Sequence[tuple[int, Union[str, Expression]]],
                              scenes: dict[int, Sequence[ShapeInfo]],
                              rng: np.random.Generator, batch_size: int = 32,
                              num_batches: int = 200) -> dict[str, float]:
    """How often a training sentence also fits another image of a random batch.

    A batch holds ``batch_size`` (image, sentence) samples of distinct images. A sentence
    is a false negative when it describes some shape of another image of the batch (the
    contrastive loss then pushes apart a pair that matches). "Unique" counts only other
    images where the sentence would be a valid referring expression (exactly one shape).

    Args:
        samples: ``(image_id, expression)`` pairs of the training split; an expression
            given as a sentence is read with :func:`parse_sentence` (attribute, position
            and left/right/above/below sentences only).
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
    for image_id, expr in samples:
        by_image.setdefault(image_id, []).append(
            parse_sentence(expr) if isinstance(expr, str) else expr)
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


# --------------------------------------------------------------------------- families

_ORDINAL = re.compile(r'\b(?:second|third)\b')
_COMPARATIVE = re.compile(r'\bof the two\b|^the (?:bigger|larger|smaller|upper|higher|lower)\b')
_SUPERLATIVE = re.compile(r'\w*most\b|\b\w+est\b(?! to)|\bfar (?:left|right)\b|'
                          r'\bvery (?:top|bottom)\b')
_NEAR = re.compile(r'\b(?:next to|near|nearest to|beside|close to|closest to|by)\b')
_POSITION = re.compile(r'\b(?:left|right|top|bottom|middle|center|centre|corner|upper|'
                       r'lower)\b')


def classify_sentence(sentence: str) -> str:
    """Best-effort family of a sentence from its words alone (for sentences of another
    generator, or of a dataset without a sentences file)."""
    text = re.sub(r'[^a-z ]', ' ', sentence.lower()).strip()
    text = ' '.join(text.split())
    if _ORDINAL.search(text):
        return 'ordinal'
    if _COMPARATIVE.search(text):
        return 'comparative'
    if _SUPERLATIVE.search(text):
        return 'superlative'
    if _NEAR.search(text):
        return 'near'
    expr = parse_sentence(text)
    if expr.relation is not None:
        return 'relation'
    if _POSITION.search(text):
        return 'position'
    return 'short' if expr.target.num_attributes() <= 2 else 'attributes'


def sentence_family(sentence: str, families: Optional[dict[str, str]] = None) -> str:
    """The family (one of :data:`FAMILIES`) of a sentence.

    Args:
        sentence: The sentence (``sent`` or ``raw`` form).
        families: Family of each sentence of a dataset (:func:`load_families`); a
            sentence not in it is classified from its words (:func:`classify_sentence`).
    """
    if families:
        key = ' '.join(re.sub(r'[^a-z -]', ' ', sentence.lower()).split())
        if key in families:
            return families[key]
    return classify_sentence(sentence)


def load_families(folder: Union[str, Path]) -> dict[str, str]:
    """Family of every sentence of a generated dataset, from its ``sentences.json``.

    Returns:
        ``{sentence: family}``; empty when the folder has no sentences file (an older
        dataset, or not one of this generator).

    Raises:
        ValueError: naming the file when it is not this generator's sentences file.
    """
    path = Path(folder) / SENTENCES_FILE
    if not path.is_file():
        return {}
    try:
        rows = json.loads(path.read_text())['sentences']
        return {row['sent']: row['family'] for row in rows}
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a sentences file of the synthetic generator "
                         f"(a 'sentences' list of rows with 'sent' and 'family'): {err}"
                         ) from None


def results_by_family(results: Sequence[dict],
                      families: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:
    """mIoU and PointM of per-sentence results grouped by sentence family.

    Args:
        results: rows of ``tools/test.py --out`` (``text``, ``iou``, ``pointm_hit``).
        families: Family of each sentence of the dataset (:func:`load_families`); other
            sentences are classified from their words.

    Returns:
        One row per family present (``family``, ``n``, ``mIoU``, ``PointM``), then
        ``all``; metrics in percent.
    """
    groups: dict[str, list[dict]] = {}
    for index, row in enumerate(results):
        missing = [k for k in ('text', 'iou', 'pointm_hit') if k not in row]
        if missing:
            raise KeyError(f'result row {index} has no {missing}')
        groups.setdefault(sentence_family(row['text'], families), []).append(row)
    ordered = [(f, groups[f]) for f in FAMILIES if f in groups]
    return [dict(family=family, n=len(rows_of),
                 mIoU=100 * float(np.mean([r['iou'] for r in rows_of])),
                 PointM=100 * float(np.mean([r['pointm_hit'] for r in rows_of])))
            for family, rows_of in ordered + [('all', list(results))]]


def expression_to_dict(expr: Expression) -> dict[str, Any]:
    """An expression as JSON-ready nested dicts, with the attributes it leaves unset left
    out (:func:`expression_from_dict` reads it back)."""
    out = {k: v for k, v in asdict(expr).items() if v is not None}
    for key in ('target', 'anchor'):
        if key in out:
            out[key] = {k: v for k, v in out[key].items() if v is not None}
    return out


def expression_from_dict(data: dict[str, Any]) -> Expression:
    """The expression that :func:`expression_to_dict` wrote."""
    anchor = data.get('anchor')
    return Expression(**dict(data, target=Phrase(**data['target']),
                             anchor=Phrase(**anchor) if anchor is not None else None))


def _statistics(refs: list[dict], images: list[dict], annotations: list[dict],
                families: dict[int, str], fn_rate: dict[str, float], seed: int,
                image_size: int, batch_size: int) -> dict[str, Any]:
    """Counts per split, and per split the share of each sentence family, the vocabulary
    size and the mean sentence length in words."""
    split_images = {s: {r['image_id'] for r in refs if r['split'] == s} for s in SPLITS}
    sentences: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for ref in refs:
        sentences[ref['split']] += ref['sentences']
    language = {}
    for split, sents in sentences.items():
        if not sents:
            continue
        counts = Counter(families[s['sent_id']] for s in sents)
        language[split] = {
            'family_share': {f: round(counts[f] / len(sents), 4) for f in FAMILIES},
            'vocabulary': len({t for s in sents for t in s['tokens']}),
            'distinct_sentences': len({s['sent'] for s in sents}),
            'mean_words': round(float(np.mean([len(s['tokens']) for s in sents])), 2)}
    all_sents = [s for sents in sentences.values() for s in sents]
    return {
        'generator_version': GENERATOR_VERSION,
        'seed': seed,
        'image_size': image_size,
        'num_images': len(images),
        'num_annotations': len(annotations),
        'splits': {s: {'images': len(split_images[s]),
                       'refs': sum(r['split'] == s for r in refs),
                       'sentences': len(sentences[s])} for s in SPLITS},
        'sentence_families': dict(Counter(families.values())),
        'mean_sentence_words': round(float(np.mean([len(s['tokens']) for s in all_sents])), 2)
        if all_sents else 0.0,
        'language': language,
        'batch_size': batch_size,
        # Share of train sentences that also describe a shape of another image of a
        # random batch ("any"), or describe exactly one shape there ("unique").
        'batch_false_negative_rate': fn_rate,
    }
