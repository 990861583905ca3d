import json

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from sgseg.evaluation import RefSegMetric
from sgseg.registry import METRICS


def sample(sent_id, gt_pixels, pred_pixels, top=(0, 0), size=(4, 4)):
    """A model output as the Evaluator hands it over (``to_dict()``).

    ``gt_pixels`` / ``pred_pixels`` list the (row, col) set to 1; the score map has
    its maximum at ``top``.
    """
    gt = torch.zeros((1, *size), dtype=torch.uint8)
    pred = torch.zeros((1, *size), dtype=torch.uint8)
    for r, c in gt_pixels:
        gt[0, r, c] = 1
    for r, c in pred_pixels:
        pred[0, r, c] = 1
    logits = torch.full((1, *size), 0.2)
    logits[0, top[0], top[1]] = 1.0
    ds = SegDataSample(metainfo=dict(sent_id=sent_id, ref_id=sent_id * 10,
                                     text=f'sentence {sent_id}'))
    ds.gt_sem_seg = PixelData(data=gt)
    ds.pred_sem_seg = PixelData(data=pred)
    ds.seg_logits = PixelData(data=logits)
    return ds.to_dict()


ROWS01 = [(r, c) for r in range(2) for c in range(4)]
ALL = [(r, c) for r in range(4) for c in range(4)]
CASES = [
    # I=4, U=8: IoU 1/2; top pixel inside the target
    sample(1, ROWS01, [(0, c) for c in range(4)], top=(0, 0)),
    # I=1, U=3: IoU 1/3; top pixel outside
    sample(2, [(3, 3)], [(3, 3), (3, 2), (2, 3)], top=(0, 0)),
    # I=U=16: IoU 1; hit
    sample(3, ALL, ALL, top=(2, 2)),
    # both empty: IoU 1, adds nothing to cIoU, PointM miss
    sample(4, [], [], top=(1, 1)),
    # empty target, two predicted pixels: IoU 0, U=2, miss
    sample(5, [], [(0, 0), (0, 1)], top=(0, 0)),
]


def evaluate(samples, **kwargs):
    metric = RefSegMetric(**kwargs)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_hand_computed_values():
    metrics = evaluate(CASES)
    assert metrics['n'] == 5
    assert metrics['mIoU'] == pytest.approx(100 * (1 / 2 + 1 / 3 + 1 + 1 + 0) / 5)
    # cIoU = ΣI / ΣU = (4 + 1 + 16) / (8 + 3 + 16 + 0 + 2), not the mean IoU
    assert metrics['cIoU'] == pytest.approx(100 * 21 / 29)
    assert metrics['cIoU'] != pytest.approx(metrics['mIoU'])
    assert metrics['Acc@0.3'] == pytest.approx(80.0)
    assert metrics['Acc@0.5'] == pytest.approx(60.0)  # IoU exactly 0.5 counts
    assert metrics['Acc@0.7'] == pytest.approx(40.0)
    assert metrics['PointM'] == pytest.approx(40.0)


def test_pointm_ties_take_the_first_argmax():
    # Equal maxima at (0, 1), outside, and (3, 3), inside: the first one decides.
    s = sample(1, [(3, 3)], [(3, 3)], top=(0, 1))
    s['seg_logits']['data'][0, 3, 3] = 1.0
    assert evaluate([s])['PointM'] == 0.0
    s = sample(1, [(0, 1)], [(3, 3)], top=(0, 1))
    s['seg_logits']['data'][0, 3, 3] = 1.0
    assert evaluate([s])['PointM'] == 100.0


def test_all_empty_is_perfect():
    metrics = evaluate([sample(1, [], []), sample(2, [], [])])
    assert metrics['mIoU'] == metrics['cIoU'] == metrics['Acc@0.7'] == 100.0
    assert metrics['PointM'] == 0.0


def test_two_ranks_equal_one_rank():
    one = evaluate(CASES)
    ranks = [RefSegMetric(), RefSegMetric()]
    ranks[0].process({}, CASES[:2])
    ranks[1].process({}, CASES[2:])
    merged = RefSegMetric().compute_metrics(ranks[0].results + ranks[1].results)
    assert merged == one
    # only plain scalars and the sentence travel between ranks
    for entry in ranks[0].results:
        for r in entry:
            assert all(isinstance(v, (int, float, bool, str)) for v in r.values())


def images_with(*counts):
    """A dataloader batch of images grouped with ``counts`` sentences each."""
    images = []
    for count in counts:
        image = SegDataSample()
        image.expressions = [SegDataSample() for _ in range(count)]
        images.append(image)
    return dict(data_samples=images)


def test_grouped_batches_keep_one_entry_per_image():
    metric = RefSegMetric()
    metric.process(images_with(3, 2), CASES)
    assert [[r['sent_id'] for r in entry] for entry in metric.results] == [[1, 2, 3], [4, 5]]
    assert metric.compute_metrics(metric.results) == evaluate(CASES)
    # two ranks, the second padded with a repeat of the first image (DefaultSampler):
    # mmengine orders the entries by dataset index and drops the padding
    ranks = [RefSegMetric(), RefSegMetric()]
    ranks[0].process(images_with(3), CASES[:3])
    ranks[1].process(images_with(2, 3), CASES[3:] + CASES[:3])
    parts = [ranks[0].results, ranks[1].results]
    ordered = [entry for pair in zip(*parts) for entry in pair][:2]
    assert RefSegMetric().compute_metrics(ordered) == evaluate(CASES)


def test_predictions_must_match_the_sentences_of_the_batch():
    with pytest.raises(ValueError, match=r'the batch has 5 sentences \(2 samples\) but the '
                                         r'model returned 4 predictions'):
        RefSegMetric().process(images_with(3, 2), CASES[:4])


def test_shape_mismatch_names_the_sample():
    bad = sample(42, [(0, 0)], [(0, 0)])
    bad['pred_sem_seg']['data'] = torch.zeros((1, 2, 2), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r'sent_id 42: pred_sem_seg \(2, 2\)'):
        evaluate([bad])
    missing = sample(43, [(0, 0)], [(0, 0)])
    del missing['seg_logits']
    with pytest.raises(KeyError, match=r"sent_id 43 has no 'seg_logits'"):
        evaluate([missing])


def test_no_samples():
    with pytest.raises(ValueError, match='no samples'):
        RefSegMetric().compute_metrics([])


def test_out_file(tmp_path):
    out = tmp_path / 'sub' / 'samples.jsonl'
    evaluate(CASES[:2], out_file=str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [
        dict(sent_id=1, ref_id=10, iou=0.5, pointm_hit=True, text='sentence 1'),
        dict(sent_id=2, ref_id=20, iou=pytest.approx(1 / 3), pointm_hit=False,
             text='sentence 2')]
    assert sorted(p.name for p in out.parent.iterdir()) == ['samples.jsonl']


def test_registered_and_thresholds_configurable():
    metric = METRICS.build(dict(type='RefSegMetric', acc_thresholds=(0.9,)))
    metric.process({}, CASES)
    metrics = metric.compute_metrics(metric.results)
    assert metrics['Acc@0.9'] == pytest.approx(40.0)
    assert 'Acc@0.5' not in metrics


def test_size_bins_label_and_route_targets():
    from sgseg.apis.scheme_evaluation import size_bin, size_bin_labels
    assert size_bin_labels([0.02, 0.05]) == ['< 2%', '2%-5%', '>= 5%']

    def mask(area):
        gt = torch.zeros(1, 10, 10, dtype=torch.uint8)
        gt.view(-1)[:area] = 1
        return gt

    assert [size_bin(mask(a), [0.02, 0.05]) for a in (1, 2, 4, 5, 50)] == [0, 1, 1, 2, 2]


def test_size_bins_must_be_ascending_fractions():
    from sgseg.apis.scheme_evaluation import evaluate_schemes
    for bad in ([], [0.05, 0.02], [0.5, 1.5]):
        with pytest.raises(ValueError, match='size_bins'):
            evaluate_schemes(None, [], size_bins=bad)
