"""Evaluate several mask thresholds tau (Table A3), or several DenseCRF settings
(appendix D), from one pass of the model over a split."""
from typing import Callable, Dict, Iterable, List, Sequence

import torch
from mmengine.model import is_model_wrapper

from sgseg.evaluation.metrics import RefSegMetric
from sgseg.postprocess.dense_crf import refine_score
from sgseg.registry import POSTPROCESSORS
from sgseg.utils.progress import ProgressLog
from .scheme_evaluation import with_prediction


def _evaluate_variants(model, dataloaders: Iterable, what: str, num_variants: int,
                       variants: Callable[[list], List[list]]) -> List[Dict[str, float]]:
    """RefSegMetric of several predictions derived from one pass of the model.

    Args:
        model: a referring segmentor, unwrapped, in eval mode.
        dataloaders: evaluation dataloaders, pooled: one set of metrics over all their
            sentences.
        what: the progress log's label.
        num_variants: how many predictions each sample gets.
        variants: a batch's outputs -> for each variant, the list of its sample dicts
            (:func:`with_prediction`).

    Returns:
        list: the metrics of each variant.
    """
    metrics = [RefSegMetric() for _ in range(num_variants)]
    num_samples = 0
    for dataloader in dataloaders:
        with ProgressLog(len(dataloader), what) as progress:
            for data_batch in dataloader:
                outputs = model.test_step(data_batch)
                num_samples += len(outputs)
                for metric, samples in zip(metrics, variants(outputs)):
                    metric.process(data_batch, samples)
                progress.update()
    return [metric.evaluate(num_samples) for metric in metrics]


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
    results = _evaluate_variants(
        model, [dataloader], 'evaluating thresholds', len(thresholds),
        lambda outputs: [[with_prediction(ds, ds.seg_logits.data[0], tau) for ds in outputs]
                         for tau in thresholds])
    return dict(zip(thresholds, results))


@torch.no_grad()
def evaluate_crf_settings(model, dataloaders: Iterable,
                          settings: Sequence[dict]) -> List[Dict[str, float]]:
    """RefSegMetric with each DenseCRF setting, the model run once per batch.

    The pass runs with DenseCRF off; each sample's min-max normalised score map (at the
    original size) is then refined by every setting on the original image and
    thresholded at ``test_cfg.threshold``, as ``predict`` does with ``test_cfg.crf`` set:
    each row equals ``tools/test.py --crf`` with that setting and the same seed.

    Args:
        model: a referring segmentor (or a wrapper around one).
        dataloaders: evaluation dataloaders (samples carry ``gt_sem_seg`` and
            ``img_path``), pooled: one set of metrics over all their sentences.
        settings: post-processor configs (``dict(type='DenseCRF', ...)``).

    Returns:
        list: the metrics of each setting, in the order given.
    """
    if not settings:
        raise ValueError('evaluate_crf_settings needs at least one DenseCRF setting')
    crfs = [POSTPROCESSORS.build(dict(setting)) for setting in settings]
    model = model.module if is_model_wrapper(model) else model
    model.eval()
    threshold = model.test_cfg['threshold']

    def refined(outputs):
        images = {}  # each image read once for all its sentences and settings
        for ds in outputs:
            if ds.metainfo['img_path'] not in images:
                images[ds.metainfo['img_path']] = model.load_rgb(ds.metainfo)
        return [[with_prediction(ds, refine_score(crf, images[ds.metainfo['img_path']],
                                                  ds.seg_logits.data[0]), threshold)
                 for ds in outputs] for crf in crfs]

    saved, model.test_cfg['crf'] = model.test_cfg.get('crf'), None
    try:
        return _evaluate_variants(model, dataloaders, 'evaluating DenseCRF settings',
                                 len(crfs), refined)
    finally:
        model.test_cfg['crf'] = saved
