"""Evaluate every inference scheme and trivial baselines from one pass over a split."""
from typing import Dict, Sequence

import torch
from mmengine.model import is_model_wrapper
from rich.progress import Progress

from sgseg.evaluation.baselines import BASELINES, baseline_score
from sgseg.evaluation.metrics import RefSegMetric
from sgseg.models.segmentors.shatter_and_gather import INFERENCE_SCHEMES, ShatterAndGather


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


@torch.no_grad()
def evaluate_schemes(model,
                     dataloader,
                     schemes: Sequence[str] = INFERENCE_SCHEMES,
                     baselines: Sequence[str] = BASELINES) -> Dict[str, Dict[str, float]]:
    """RefSegMetric of each inference scheme (Table 4b) and baseline on one split.

    The model runs once per batch with its configured slot seed; the other schemes
    reuse that pass's A^slot and A^fuse, so every scheme sees the same slot draw. The
    configured scheme's numbers equal those of ``tools/test.py`` with the same seed.

    Args:
        model: a ShatterAndGather (or a wrapper around one).
        dataloader: an evaluation dataloader (samples carry ``gt_sem_seg``).
        schemes: inference schemes to score.
        baselines: text-independent baselines to score (see ``baseline_score``).

    Returns:
        dict: ``{name: metrics}``, names the schemes and the baselines.
    """
    model = model.module if is_model_wrapper(model) else model
    model.eval()
    metrics = {name: RefSegMetric() for name in (*schemes, *baselines)}
    configured = model.test_cfg['inference_scheme']
    with Progress(transient=True) as progress:
        task = progress.add_task('evaluating schemes', total=len(dataloader))
        for data_batch in dataloader:
            outputs = model.test_step(data_batch)
            pad_shape = outputs[0].metainfo['batch_input_shape']
            for name in schemes:
                samples = [ds.to_dict() if name == configured else
                           scheme_sample(model, ds, name, pad_shape) for ds in outputs]
                metrics[name].process(data_batch, samples)
            for name in baselines:
                samples = [
                    with_prediction(ds, torch.from_numpy(baseline_score(
                        name, *ds.metainfo['ori_shape'][:2])), 0.5) for ds in outputs
                ]
                metrics[name].process(data_batch, samples)
            progress.advance(task)
    return {name: m.evaluate(len(dataloader.dataset)) for name, m in metrics.items()}
