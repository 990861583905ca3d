"""Evaluate every inference scheme and trivial baselines from one pass over a split.

Inference schemes (Table 4b) re-read ShatterAndGather's A^slot and A^fuse; another
method is scored with its own inference (``'own'``) and the baselines.
"""
import bisect
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.model import is_model_wrapper

from sgseg.evaluation.baselines import BASELINES, baseline_score
from sgseg.evaluation.metrics import RefSegMetric
from sgseg.models.segmentors import BaseRefSegmentor, ShatterAndGather
from sgseg.models.segmentors.shatter_and_gather import INFERENCE_SCHEMES
from sgseg.utils.progress import ProgressLog


def scheme_sample(model: ShatterAndGather, ds, scheme: str, pad_shape) -> dict:
    """A predicted sample (as a dict) re-scored with another inference scheme."""
    scores = model.combine(ds.attn_slot[None], ds.attn_fuse[None], scheme)
    score = model.to_original_size(scores.reshape(ds.metainfo['grid_size']), ds.metainfo,
                                   pad_shape)
    return with_prediction(ds, score, model.test_cfg['threshold'])


def with_prediction(ds, score: torch.Tensor, threshold: float) -> dict:
    """The sample's dict with ``seg_logits`` / ``pred_sem_seg`` replaced by ``score``."""
    sample = ds.to_dict()
    sample['seg_logits'] = dict(data=score[None])
    sample['pred_sem_seg'] = dict(data=(score >= threshold)[None].to(torch.uint8))
    return sample


def size_bin_labels(edges: Sequence[float]) -> List[str]:
    """Labels of the target-size bins cut at ``edges`` (fractions of the image area)."""
    pct = [f'{100 * e:g}%' for e in edges]
    return ([f'< {pct[0]}'] + [f'{a}-{b}' for a, b in zip(pct, pct[1:])]
            + [f'>= {pct[-1]}'])


def size_bin(gt: torch.Tensor, edges: Sequence[float]) -> int:
    """Index of the bin of a ground-truth mask's area (fraction of the image)."""
    return bisect.bisect_right(list(edges), int((gt > 0).sum()) / gt.numel())


@torch.no_grad()
def evaluate_schemes(model,
                     dataloader,
                     schemes: Optional[Sequence[str]] = None,
                     baselines: Sequence[str] = BASELINES,
                     size_bins: Optional[Sequence[float]] = None
                     ) -> Dict[str, Dict[str, float]]:
    """RefSegMetric of each inference scheme (Table 4b) and baseline on one split.

    The model runs once per batch with its configured slot seed; the other schemes
    reuse that pass's A^slot and A^fuse, so every scheme sees the same slot draw. The
    configured scheme's numbers equal those of ``tools/test.py`` with the same seed.
    A model without inference schemes (any ``BaseRefSegmentor`` but
    ShatterAndGather) is scored with its own inference only, under the name
    ``'own'``.

    Args:
        model: a ``BaseRefSegmentor`` (or a wrapper around one).
        dataloader: an evaluation dataloader (samples carry ``gt_sem_seg``).
        schemes: inference schemes to score; None: all of Table 4b for
            ShatterAndGather, ``('own',)`` for another method.
        baselines: text-independent baselines to score (see ``baseline_score``).
        size_bins: ascending fractions of the image area; each scheme is also scored
            on the samples whose target covers each range (``'<scheme> | <bin>'``
            keys, bins without samples left out).

    Returns:
        dict: ``{name: metrics}``, names the schemes and the baselines.
    """
    if size_bins is not None and (not size_bins or list(size_bins) != sorted(size_bins)
                                  or not all(0. < e < 1. for e in size_bins)):
        raise ValueError(f'size_bins must be ascending fractions in (0, 1), got '
                         f'{list(size_bins)}')
    model = model.module if is_model_wrapper(model) else model
    if not isinstance(model, BaseRefSegmentor):
        raise TypeError(f'evaluate_schemes needs a BaseRefSegmentor, got '
                        f'{type(model).__name__}')
    has_schemes = isinstance(model, ShatterAndGather)
    if schemes is None:
        schemes = INFERENCE_SCHEMES if has_schemes else ('own', )
    configured = model.test_cfg['inference_scheme'] if has_schemes else 'own'
    if not has_schemes and tuple(schemes) != ('own', ):
        raise ValueError(f'{type(model).__name__} has no inference schemes: it is scored '
                         f"with its own inference ('own'), got schemes {list(schemes)}")
    labels = size_bin_labels(size_bins) if size_bins else []
    by_size = {(name, label): RefSegMetric() for name in schemes for label in labels}
    model.eval()
    metrics = {name: RefSegMetric() for name in (*schemes, *baselines)}
    with ProgressLog(len(dataloader), 'evaluating schemes') as progress:
        for data_batch in dataloader:
            outputs = model.test_step(data_batch)
            pad_shape = outputs[0].metainfo['batch_input_shape']
            # every scheme scores the same targets: bin each one once per batch
            sizes = [labels[size_bin(ds.gt_sem_seg.data, size_bins)]
                     for ds in outputs] if labels else []
            for name in schemes:
                samples = [ds.to_dict() if name == configured else
                           scheme_sample(model, ds, name, pad_shape) for ds in outputs]
                metrics[name].process(data_batch, samples)
                for sample, label in zip(samples, sizes):
                    # a bin takes single sentences out of their images
                    by_size[name, label].process(None, [sample])
            for name in baselines:
                samples = [
                    with_prediction(ds, torch.from_numpy(baseline_score(
                        name, *ds.metainfo['ori_shape'][:2])), 0.5) for ds in outputs
                ]
                metrics[name].process(data_batch, samples)
            progress.update()
    results = {name: m.evaluate(len(dataloader.dataset)) for name, m in metrics.items()}
    for (name, label), metric in by_size.items():
        if metric.results:
            results[f'{name} | {label}'] = metric.evaluate(len(metric.results))
    return results
