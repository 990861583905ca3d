"""Evaluation grouped by image: each image encoded once, every sentence scored once, and
per-sentence results equal to RefSegInferencer's (same seed, same image batches)."""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from sgseg.apis import RefSegInferencer
from sgseg.datasets import make_synthetic_refer
from sgseg.evaluation.metrics import RefSegMetric
from sgseg.registry import MODELS
from sgseg.utils import register_all_modules
from tests.test_models.tiny import IMG, TINY_MODEL

CONFIG = """
default_scope = 'sgseg'
model = {model!r}
test_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='LoadRefMask'),
    dict(type='Resize', scale=({img}, {img}), keep_ratio=False),
    dict(type='PackRefSegInputs'),
]
test_dataloader = dict(
    batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ReferDataset', data_root={data!r}, ann_file='refs(unc).p',
                 data_prefix=dict(img_path='images'), split='val', test_mode=True,
                 pipeline=test_pipeline))
"""
TEST_CFGS = {
    'fuse': dict(seed=0),
    'max-2-draws': dict(seed=5, inference_scheme='max', num_slot_samples=2),
    'crf': dict(seed=1, crf=dict(type='DenseCRF', num_iters=2)),
}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """Five val images with 2-6 sentences each (two or three shapes, two sentences)."""
    root = tmp_path_factory.mktemp('grouped')
    make_synthetic_refer(root, num_train_images=2, num_val_images=5, num_test_images=1,
                         image_size=40, seed=1, min_refs_per_image=2, max_refs_per_image=3,
                         min_sents_per_ref=2, max_sents_per_ref=2, num_fn_batches=1,
                         num_heldout_scenes_images=0)
    return root


def write(tmp_path, data_root, test_cfg):
    model = copy.deepcopy(TINY_MODEL)
    model['test_cfg'] = test_cfg
    path = tmp_path / 'tiny.py'
    path.write_text(CONFIG.format(model=model, img=IMG, data=str(data_root)))
    torch.manual_seed(0)
    register_all_modules()
    checkpoint = tmp_path / 'tiny.pth'
    torch.save({'state_dict': MODELS.build(model).state_dict(), 'meta': {}}, checkpoint)
    return Config.fromfile(str(path)), path, checkpoint


def evaluate(model, loader_cfg, **dataset):
    """Per-sentence outputs by sent_id, RefSegMetric's metrics, and the batches of
    images the backbone saw."""
    init_default_scope('sgseg')
    loader_cfg = copy.deepcopy(loader_cfg)
    loader_cfg['dataset'].update(dataset)
    loader = Runner.build_dataloader(loader_cfg)
    seen = []
    hook = model.backbone.register_forward_hook(lambda m, a, o: seen.append(a[0].shape[0]))
    outputs, metric = {}, RefSegMetric()
    try:
        with torch.no_grad():
            for batch in loader:
                predicted = model.test_step(batch)
                metric.process(batch, [ds.to_dict() for ds in predicted])
                for ds in predicted:
                    assert ds.sent_id not in outputs, 'a sentence was scored twice'
                    outputs[ds.sent_id] = ds
    finally:
        hook.remove()
    return outputs, metric.evaluate(len(loader.dataset)), seen, loader.dataset


@pytest.mark.parametrize('case', list(TEST_CFGS))
def test_grouped_evaluation_equals_the_inferencer_exactly(tmp_path, data_root, case):
    if case == 'crf':
        pytest.importorskip('pydensecrf.densecrf')
    cfg, config, checkpoint = write(tmp_path, data_root, TEST_CFGS[case])
    inferencer = RefSegInferencer(str(config), str(checkpoint), seed=cfg.model.test_cfg.seed)
    # a second copy of the same weights runs the evaluation path
    model = copy.deepcopy(inferencer.model).eval()
    outputs, metrics, seen, dataset = evaluate(model, cfg.test_dataloader)
    items = [dataset.get_data_info(i) for i in range(len(dataset))]
    num_sentences = sum(len(item['expressions']) for item in items)
    assert len(items) == 5 and num_sentences >= 10
    # every image encoded once (batches of 2 images), every sentence scored once
    assert seen == [2, 2, 1]
    assert sorted(outputs) == sorted(e['sent_id'] for item in items for e in item['expressions'])
    assert metrics['n'] == num_sentences

    predictions = inferencer([item['img_path'] for item in items],
                             [[e['text'] for e in item['expressions']] for item in items],
                             batch_size=2, image_ids=[item['image_id'] for item in items])
    for item, per_image in zip(items, predictions):
        for expression, prediction in zip(item['expressions'], per_image):
            ds = outputs[expression['sent_id']]
            np.testing.assert_array_equal(ds.seg_logits.data[0].numpy(), prediction.score)
            np.testing.assert_array_equal(ds.pred_sem_seg.data[0].numpy() > 0, prediction.mask)
            np.testing.assert_array_equal(ds.attn_fuse.numpy(), prediction.attn_fuse)


def test_per_sentence_path_and_any_batching_give_the_same_results(tmp_path, data_root):
    cfg, _, checkpoint = write(tmp_path, data_root, TEST_CFGS['fuse'])
    register_all_modules()
    model = MODELS.build(cfg.model).eval()
    model.load_state_dict(torch.load(checkpoint, weights_only=True)['state_dict'])
    grouped, metrics, seen, _ = evaluate(model, cfg.test_dataloader)
    flat, flat_metrics, flat_seen, _ = evaluate(model, cfg.test_dataloader,
                                                group_by_image=False)
    assert sum(flat_seen) == len(flat) == len(grouped) > sum(seen)
    # other images in the batch, other order: the same entities for each image
    shuffled, _, _, _ = evaluate(
        model, dict(cfg.test_dataloader, batch_size=3,
                    sampler=dict(type='DefaultSampler', shuffle=True, seed=7)))
    # equal up to the rounding of other batch shapes (min-max normalisation of the score
    # map magnifies it); the metrics do not move
    for other in (flat, shuffled):
        assert sorted(other) == sorted(grouped)
        for sent_id, ds in grouped.items():
            torch.testing.assert_close(other[sent_id].seg_logits.data, ds.seg_logits.data,
                                       rtol=0, atol=1e-4)
            torch.testing.assert_close(other[sent_id].attn_slot, ds.attn_slot,
                                       rtol=0, atol=1e-5)
    assert metrics == pytest.approx(flat_metrics, abs=1e-9)


def test_eval_benchmark_times_both_paths_over_the_same_sentences(tmp_path, data_root):
    from sgseg.apis.benchmark import run_eval_benchmark
    cfg, _, checkpoint = write(tmp_path, data_root, TEST_CFGS['fuse'])
    result = run_eval_benchmark(cfg, 'test', str(checkpoint), max_images=2)
    items = grouped_items(cfg)[:2]
    assert result['eval_images'] == 2
    assert result['eval_sentences'] == sum(len(item['expressions']) for item in items)
    assert result['eval_max_metric_diff'] < 1e-6
    assert result['eval_grouped_s'] > 0 and result['eval_per_sentence_s'] > 0
    assert 'eval_grouped_warm_s' not in result  # no text feature cache in this model


def grouped_items(cfg):
    """The grouped samples of the config's test split."""
    init_default_scope('sgseg')
    from sgseg.registry import DATASETS
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset, pipeline=[]))
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def test_eval_benchmark_times_the_evaluation_as_it_was_before_grouping(tmp_path, data_root,
                                                                      monkeypatch):
    """With a caching text encoder that packs uncached sentences, the benchmark also
    times the per-sentence evaluation with each sentence encoded alone (``before``),
    cold only, and leaves the encoder packing again afterwards."""
    from sgseg.apis import benchmark
    model_cfg = copy.deepcopy(TINY_MODEL)
    model_cfg['text_encoder'].update(frozen=True, cache_features=True, pack_uncached=True)
    cfg, _, checkpoint = write(tmp_path, data_root, TEST_CFGS['fuse'])
    cfg.model = Config(dict(model=model_cfg)).model
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(model_cfg).state_dict(), 'meta': {}}, checkpoint)
    passes, evaluate_split = [], benchmark.evaluate_split

    def spy(model, loader_cfg):
        text = model.text_encoder
        passes.append((loader_cfg['dataset']['group_by_image'], text.pack_uncached,
                       len(text._cache)))
        return evaluate_split(model, loader_cfg)

    monkeypatch.setattr(benchmark, 'evaluate_split', spy)
    result = benchmark.run_eval_benchmark(cfg, 'test', str(checkpoint), repeats=2,
                                          max_images=2)
    # (grouped by image, packing, sentences already cached) of each pass: cold then warm
    # per sentence and grouped, then the evaluation as it was, cold; packing again in the
    # second round
    n = result['eval_sentences']
    assert passes == [(False, True, 0), (False, True, n), (True, True, 0), (True, True, n),
                      (False, False, 0)] * 2
    assert result['eval_before_s'] > 0 and 'eval_before_warm_s' not in result
    assert result['eval_time_ratio_vs_before'] == pytest.approx(
        result['eval_grouped_s'] / result['eval_before_s'])
    assert result['eval_max_metric_diff'] < 1e-6  # the three paths score alike
