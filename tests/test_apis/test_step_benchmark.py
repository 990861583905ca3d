"""The whole training step through the Runner, timed per phase
(``tools/analysis_tools/benchmark.py --default-step``)."""
import copy

import pytest
from mmengine.config import Config

from sgseg.apis.benchmark import STEP_PHASES, iters_in_budget, run_step_benchmark
from sgseg.datasets import make_synthetic_refer
from tests.test_models.tiny import IMG, TINY_MODEL

CONFIG = dict(
    default_scope='sgseg',
    train_dataloader=dict(
        batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(type='ReferDataset', ann_file='refs(unc).p',
                     data_prefix=dict(img_path='images'), split='train',
                     pipeline=[dict(type='LoadRefImage'),
                               dict(type='Resize', scale=(IMG, IMG), keep_ratio=False),
                               dict(type='PackRefSegInputs')])),
    optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
    train_cfg=dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=1000),
    randomness=dict(seed=0))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('step')
    make_synthetic_refer(root, num_train_images=6, num_val_images=1, num_test_images=1,
                         image_size=40, seed=0, num_fn_batches=1)
    return root


def tiny_train_cfg(data_root) -> Config:
    model = copy.deepcopy(TINY_MODEL)
    model['recon_loss'] = None
    model['text_encoder'].update(frozen=True, cache_features=True)
    cfg = copy.deepcopy(CONFIG)
    cfg['model'] = model
    cfg['train_dataloader']['dataset']['data_root'] = str(data_root)
    return Config(cfg)


def test_step_phases_add_up_and_the_cold_text_cost_is_counted(data_root, tmp_path):
    cfg = tiny_train_cfg(data_root)
    result = run_step_benchmark(cfg, iters=3, warmup=1, work_dir=str(tmp_path))
    phases = [result[f'step_{phase}_s'] for phase in STEP_PHASES]
    assert all(t > 0 for t in phases)
    assert result['step_warm_s'] == pytest.approx(sum(phases), rel=1e-12)
    assert sum(result[f'step_{p}_share'] for p in STEP_PHASES) == pytest.approx(1.)
    # the first pass encodes each sentence; the second finds them in the cache
    assert result['step_text_cold_s'] > result['step_text_s']
    assert result['text_cold_per_sentence_s'] > 0
    assert result['step_runner_cold_s'] > result['step_runner_data_s'] > 0
    # a second pass of the Runner over the same samples: every sentence cached
    assert result['step_runner_warm_s'] > result['step_runner_warm_data_s'] > 0
    step = result['step_runner_warm_s']
    seen = min(result['train_sentences'], 1000 * 2)
    assert result['run_estimate_s'] == pytest.approx(
        1000 * step + seen * result['text_cold_per_sentence_s'])
    assert cfg.train_cfg.max_iters == 1000  # the caller's config is left as it was


def test_iterations_in_a_budget():
    # every draw still finds new sentences: each step pays 10 cold encodings
    assert iters_in_budget(100., 1., 10, 10_000, 0.1) == 50
    # all 50 sentences are encoded within the budget, once: (100 - 5) / 1
    assert iters_in_budget(100., 1., 10, 50, 0.1) == 95
    assert iters_in_budget(100., 1., 10, 50, 0.) == 100


def test_the_embedded_step_is_reported_against_its_target():
    from sgseg.apis.benchmark import (EMBEDDED_STEP_BEFORE_S, compare_embedded_step,
                                      format_report)
    result = dict(step_warm_s=0.25)
    compare_embedded_step(result, 'configs/sg_vittiny_synthetic.py')
    assert abs(result['step_speedup'] - EMBEDDED_STEP_BEFORE_S / 0.25) < 1e-12
    line = [x for x in format_report(result).splitlines() if x.startswith('step_warm_s')][0]
    assert f'target <= {EMBEDDED_STEP_BEFORE_S / 1.5:.2f}: MISSES' in line
    result['step_warm_s'] = 0.2
    assert 'meets' in format_report(result)
    # the Runner's warm iteration, where measured, is the step compared
    result = dict(step_warm_s=0.2, step_runner_warm_s=0.25)
    compare_embedded_step(result, 'configs/sg_vittiny_synthetic.py')
    assert abs(result['step_speedup'] - EMBEDDED_STEP_BEFORE_S / 0.25) < 1e-12
    lines = format_report(result).splitlines()
    assert 'MISSES' in [x for x in lines if x.startswith('step_runner_warm_s')][0]
    assert 'target' not in [x for x in lines if x.startswith('step_warm_s')][0]
    # beside another config's full run, as the embedded_ keys
    from sgseg.apis.benchmark import embedded_step_summary
    summary = embedded_step_summary(dict(step_warm_s=0.2, step_runner_warm_s=0.25))
    assert summary['embedded_step_runner_warm_s'] == 0.25
    assert abs(summary['embedded_step_speedup'] - EMBEDDED_STEP_BEFORE_S / 0.25) < 1e-12
    line = [x for x in format_report(summary).splitlines()
            if x.startswith('embedded_step_runner_warm_s')][0]
    assert 'MISSES' in line
    # another config's step has no target
    other = dict(step_warm_s=0.25)
    compare_embedded_step(other, 'configs/other.py')
    assert 'step_speedup' not in other and 'target' not in format_report(other)
