"""evaluate_thresholds and evaluate_crf_settings: several tau or DenseCRF settings from
one pass, each equal to a plain evaluation."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from sgseg.apis import evaluate_crf_settings, evaluate_thresholds
from sgseg.evaluation.metrics import RefSegMetric
from tests.test_models.tiny import build_tiny, make_batch


class Loader(list):
    """A list of batches with the ``len`` a dataloader has."""


def batches():
    out = []
    for start in (0, 3):
        batch = make_batch(3, with_gt=True, ori_shape=(30, 45))
        for k, ds in enumerate(batch['data_samples']):
            gt = torch.zeros((1, 30, 45), dtype=torch.uint8)
            gt[:, 5 + 3 * k:20, 10 * start // 3:30] = 1  # a different box per sample
            ds.gt_sem_seg = PixelData(data=gt)
            ds.set_metainfo(dict(sent_id=start + k))
        out.append(batch)
    return Loader(out)


def plain_metrics(model, loader, tau):
    model.test_cfg['threshold'] = tau
    metric = RefSegMetric()
    for batch in loader:
        metric.process(batch, [ds.to_dict() for ds in model.test_step(batch)])
    return metric.evaluate(6)


def test_each_threshold_equals_a_plain_run_at_that_threshold():
    torch.manual_seed(0)
    model = build_tiny().eval()
    loader = batches()
    swept = evaluate_thresholds(model, loader, [0.3, 0.5, 0.7])
    assert list(swept) == [0.3, 0.5, 0.7]
    for tau in (0.3, 0.7):
        assert swept[tau] == pytest.approx(plain_metrics(model, loader, tau))
    # a lower threshold predicts supersets: Acc@0.3 / mIoU move, PointM does not
    assert swept[0.3]['PointM'] == swept[0.7]['PointM']
    assert swept[0.3]['mIoU'] != swept[0.7]['mIoU']


def test_rejects_thresholds_outside_the_normalised_range():
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        evaluate_thresholds(build_tiny(), batches(), [0.5, 1.5])


def test_each_crf_setting_equals_a_plain_run_with_it(monkeypatch):
    pytest.importorskip('pydensecrf.densecrf')
    torch.manual_seed(0)
    model = build_tiny().eval()
    loader = batches()
    for batch in loader:
        for ds in batch['data_samples']:
            ds.set_metainfo(dict(img_path=f'image_{ds.sent_id % 2}.png'))
    rng = np.random.default_rng(0)
    images = {f'image_{i}.png': rng.integers(0, 256, (30, 45, 3), dtype=np.uint8)
              for i in range(2)}
    monkeypatch.setattr(model, 'load_rgb', lambda meta: images[meta['img_path']])
    settings = [dict(type='DenseCRF'), dict(type='DenseCRF', bilateral_srgb=30.,
                                            gaussian_compat=1., num_iters=3)]
    model.test_cfg['crf'] = dict(type='DenseCRF', num_iters=1)
    # two loaders pooled: the metrics over all their sentences
    swept = evaluate_crf_settings(model, [loader[:1], loader[1:]], settings)
    assert model.test_cfg['crf'] == dict(type='DenseCRF', num_iters=1)  # restored
    for setting, metrics in zip(settings, swept):
        model.test_cfg['crf'], model._crf = setting, None
        with torch.no_grad():  # as mmengine's test loop runs
            assert metrics == pytest.approx(plain_metrics(model, loader, 0.5))
    assert swept[0]['mIoU'] != swept[1]['mIoU']
    with pytest.raises(ValueError, match='at least one DenseCRF setting'):
        evaluate_crf_settings(model, [loader], [])
