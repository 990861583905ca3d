"""Evaluate several mask thresholds tau from one pass over a split (Table A3)."""
from typing import Dict, Sequence

import torch
from mmengine.model import is_model_wrapper

from sgseg.evaluation.metrics import RefSegMetric
from sgseg.utils.progress import ProgressLog
from .scheme_evaluation import with_prediction


@torch.no_grad()
def evaluate_thresholds(model, dataloader,
                        thresholds: Sequence[float]) -> Dict[float, Dict[str, float]]:
    """RefSegMetric at each threshold tau, the model run once per batch.

    Each sample's min-max normalised score map (``seg_logits``, at the original size,
    after DenseCRF when the config turns it on) is kept from the single forward and
    thresholded once per tau; every tau therefore sees the same slot draw, and the
    row of the configured tau equals ``tools/test.py`` with the same seed. PointM does
    not depend on tau (it reads the score map only).

    Args:
        model: a ShatterAndGather (or a wrapper around one).
        dataloader: an evaluation dataloader (samples carry ``gt_sem_seg``).
        thresholds: the values of tau, each in [0, 1].

    Returns:
        dict: ``{tau: metrics}`` in the order given.
    """
    bad = [t for t in thresholds if not 0. <= t <= 1.]
    if bad or not thresholds:
        raise ValueError(f'thresholds must be a non-empty list of values in [0, 1] (the '
                         f'score map is min-max normalised), got {list(thresholds)}')
    model = model.module if is_model_wrapper(model) else model
    model.eval()
    metrics = {tau: RefSegMetric() for tau in thresholds}
    num_samples = 0
    with ProgressLog(len(dataloader), 'evaluating thresholds') as progress:
        for data_batch in dataloader:
            outputs = model.test_step(data_batch)
            num_samples += len(outputs)
            for tau, metric in metrics.items():
                metric.process(data_batch, [
                    with_prediction(ds, ds.seg_logits.data[0], tau) for ds in outputs
                ])
            progress.update()
    return {tau: m.evaluate(num_samples) for tau, m in metrics.items()}
