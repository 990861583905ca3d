"""A NaN/Inf loss stops training naming the iteration and the sentence ids, or is skipped."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner

from sgseg.engine import NonFiniteGuardOptimWrapper, NonFiniteLossError
from sgseg.registry import OPTIM_WRAPPERS
from sgseg.utils import apply_amp
from .toy import toy_cfg


def test_nan_loss_raises_with_iteration_and_sample_ids(tmp_path):
    # shuffle off, batch 4: sample 9 (sent_id 109) is in the third batch, iteration 2
    runner = Runner.from_cfg(toy_cfg(tmp_path, max_iters=4, nan_id=9))
    with pytest.raises(NonFiniteLossError, match=r'non-finite loss \(nan\) at iteration 2 '
                                                 r'\(0-based\), samples \[108, 109, 110, 111\]'):
        runner.train()
    # the update of the bad batch never happened: the weights are finite
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_nan_loss_skipped_by_config_flag(tmp_path):
    runner = Runner.from_cfg(toy_cfg(tmp_path, max_iters=8, nan_id=9, on_nonfinite='skip'))
    runner.train()
    # 16 samples, 4 a batch: iterations 2 and 6 hold sample 9
    assert runner.optim_wrapper.num_skipped == 2
    assert runner.iter == 8
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_inf_loss_raises_too():
    wrapper = NonFiniteGuardOptimWrapper(
        optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1))
    hub = MessageHub.get_instance('nonfinite-inf')
    hub.update_info('iter', 41)
    hub.update_info('sample_ids', ['a', 'b'])
    with pytest.raises(NonFiniteLossError, match=r"\(inf\) at iteration 41.*\['a', 'b'\]"):
        wrapper.update_params(torch.tensor(float('inf')))


def test_bad_mode_is_a_config_error():
    with pytest.raises(ValueError, match=r"on_nonfinite must be one of \('raise', 'skip'\)"):
        OPTIM_WRAPPERS.build(dict(type='NonFiniteGuardOptimWrapper', on_nonfinite='ignore',
                                  optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))],
                                                            lr=0.1)))


def test_schedules_use_the_guard():
    root = Path(__file__).resolve().parents[2] / 'configs/_base_/schedules'
    cfg = Config.fromfile(root / 'schedule_50e.py')
    assert cfg.optim_wrapper.type == 'NonFiniteGuardOptimWrapper'
    assert cfg.optim_wrapper.on_nonfinite == 'raise'
    # with CUDA, amp='auto' switches to the guarded AMP wrapper (tools/train.py)
    assert apply_amp(cfg, cuda=True) in ('float16', 'bfloat16')
    assert cfg.optim_wrapper.type == 'NonFiniteGuardAmpOptimWrapper'
