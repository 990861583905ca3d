"""RefSegMetric: mIoU, cIoU, Acc@X and PointM of referring segmentation."""
import json
import os
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from prettytable import PrettyTable

from sgseg.registry import METRICS


def _data(sample: dict, key: str) -> torch.Tensor:
    """Return ``sample[key]['data']`` as a 2-D tensor, naming the sample if absent."""
    if key not in sample:
        raise KeyError(f"sample sent_id {sample.get('sent_id')} has no '{key}'")
    data = sample[key]['data']
    return data[0] if data.ndim == 3 else data


@METRICS.register_module()
class RefSegMetric(BaseMetric):
    """Referring segmentation metrics, one sample per sentence, at the original size.

    For every sample, the prediction is ``pred_sem_seg`` (non-zero = referred), the
    target ``gt_sem_seg``, and the score map ``seg_logits``, all (1, H0, W0) at the
    original image size. With I and U the intersection and union pixel counts:

    - ``mIoU``: mean over samples of I / U.
    - ``cIoU``: ΣI / ΣU over all samples (large objects weigh more).
    - ``Acc@X``: share of samples with IoU ≥ X.
    - ``PointM``: share of samples whose highest-scoring pixel of ``seg_logits``
      (the first one in row-major order on ties) lies inside the target.
    - ``n``: the number of samples.

    Percentages are in [0, 100]; values are not rounded (seeds are averaged later).

    Empty masks: a sample whose prediction and target are both empty has IoU 1 (I = U
    = 0, so it adds nothing to cIoU); an empty target with a non-empty prediction has
    IoU 0; an empty target is a PointM miss (no pixel can be hit). If ΣU = 0 (every
    sample empty and correctly predicted empty), cIoU is 100.

    Only per-sentence scalars (and the sentence) are kept in ``self.results``, one
    entry per dataset sample (an image with all its sentences when evaluation groups
    them), so mmengine's cross-rank collection of results works unchanged.

    Args:
        acc_thresholds: the IoU thresholds X of Acc@X.
        out_file: if set, a JSON-lines file written (atomically) at the end of
            evaluation with one line per sentence: ``sent_id, ref_id, iou,
            pointm_hit, text``, in the dataset's order (image by image when
            evaluation groups sentences by image).
        collect_device: ``'cpu'`` or ``'gpu'``, for cross-rank collection.
        prefix: prefix of the metric names.
    """

    def __init__(self,
                 acc_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
                 out_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.acc_thresholds = tuple(acc_thresholds)
        self.out_file = out_file

    def process(self, data_batch: Optional[dict], data_samples: Sequence[dict]) -> None:
        """Score each sentence of a batch.

        The scores are kept per dataset sample: a sample that is an image with several
        sentences (``expressions``, evaluation grouped by image) keeps one entry for all
        of them, so that mmengine's cross-rank collection, which orders the entries
        and drops the sampler's padding by dataset index, sees one entry per index.

        Args:
            data_batch: the batch from the dataloader; its ``data_samples`` tell how
                many sentences each dataset sample has. None (or no ``data_samples``):
                one sentence per sample.
            data_samples: the model's outputs as dicts, one per sentence, each with
                ``pred_sem_seg``, ``seg_logits`` and ``gt_sem_seg`` (``{'data':
                (1, H0, W0)}``) and ``sent_id``.
        """
        rows = [self.score_sample(sample) for sample in data_samples]
        inputs = (data_batch or {}).get('data_samples') or []
        sizes = [len(ds.expressions) if 'expressions' in ds else 1 for ds in inputs]
        if not any('expressions' in ds for ds in inputs):
            sizes = [1] * len(rows)
        if sum(sizes) != len(rows):
            raise ValueError(
                f'the batch has {sum(sizes)} sentences ({len(sizes)} samples) but the '
                f'model returned {len(rows)} predictions: predict must return one data '
                'sample per sentence, in order')
        start = 0
        for size in sizes:
            self.results.append(rows[start:start + size])
            start += size

    def score_sample(self, sample: dict) -> dict:
        """I, U, IoU and the PointM hit of one sentence's prediction."""
        sent_id = sample.get('sent_id')
        pred = _data(sample, 'pred_sem_seg') > 0
        gt = _data(sample, 'gt_sem_seg') > 0
        logits = _data(sample, 'seg_logits')
        if pred.shape != gt.shape or logits.shape != gt.shape:
            raise ValueError(
                f'sample sent_id {sent_id}: pred_sem_seg {tuple(pred.shape)}, '
                f'seg_logits {tuple(logits.shape)} and gt_sem_seg '
                f'{tuple(gt.shape)} must have the same (H0, W0) shape: predict at '
                'the original image size')
        gt = gt.to(pred.device)
        intersection = int((pred & gt).sum())
        union = int((pred | gt).sum())
        iou = intersection / union if union > 0 else 1.0
        # torch.argmax returns the first maximal index on ties.
        top = int(torch.argmax(logits.flatten()))
        pointm_hit = bool(gt.flatten()[top].item())
        return dict(sent_id=sent_id, ref_id=sample.get('ref_id'), text=sample.get('text'),
                    intersection=intersection, union=union, iou=iou, pointm_hit=pointm_hit)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Aggregate the per-sentence scores (of every rank).

        Args:
            results: the entries of :meth:`process`, one list of per-sentence dicts
                per dataset sample.

        Returns:
            ``mIoU``, ``cIoU``, ``Acc@X`` for each threshold, ``PointM`` (in
            [0, 100]) and ``n``, the number of sentences.
        """
        results = [row for entry in results for row in entry]
        if not results:
            raise ValueError('RefSegMetric got no samples to evaluate')
        ious = np.array([r['iou'] for r in results], dtype=np.float64)
        total_i = sum(r['intersection'] for r in results)
        total_u = sum(r['union'] for r in results)
        metrics = dict(
            mIoU=100.0 * float(ious.mean()),
            cIoU=100.0 * total_i / total_u if total_u > 0 else 100.0)
        for x in self.acc_thresholds:
            metrics[f'Acc@{x}'] = 100.0 * float((ious >= x).mean())
        metrics['PointM'] = 100.0 * float(np.mean([r['pointm_hit'] for r in results]))
        metrics['n'] = len(results)

        table = PrettyTable(field_names=list(metrics))
        table.add_row([f'{v:.2f}' if k != 'n' else v for k, v in metrics.items()])
        print_log('\n' + table.get_string(), logger='current')
        if self.out_file:
            self._write_samples(results)
        return metrics

    def _write_samples(self, results: List[dict]) -> None:
        """Write the per-sample lines to ``out_file`` through a temporary file."""
        out_dir = osp.dirname(osp.abspath(self.out_file))
        os.makedirs(out_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out_dir, suffix='.tmp')
        try:
            with os.fdopen(fd, 'w') as f:
                for r in results:
                    f.write(json.dumps(dict(
                        sent_id=r['sent_id'], ref_id=r['ref_id'], iou=r['iou'],
                        pointm_hit=r['pointm_hit'], text=r['text'])) + '\n')
            os.replace(tmp, self.out_file)
        except BaseException:
            os.unlink(tmp)
            raise
