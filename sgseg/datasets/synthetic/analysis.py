"""Measurements on generated sentences: families, per-family results, and the rate of
sentences that also fit another image of a training batch."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .attributes import GENERATOR_VERSION, SPLITS, ShapeInfo
from .expressions import Expression, matching_shapes
from .grammar import _FAMILY_WEIGHTS
from .parser import parse_sentence

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
