"""Resume on torch >= 2.6: mmengine's checkpoints must load with weights_only=True."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from sgseg.engine import register_checkpoint_safe_globals
from sgseg.registry import DATASETS, HOOKS, MODELS


class Killed(Exception):
    pass


@HOOKS.register_module(force=True)
class KillAfter(Hook):
    """Dies after the given iteration, once its checkpoint is written."""
    priority = 'LOWEST'

    def __init__(self, iters):
        self.iters = iters

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iters:
            raise Killed


@MODELS.register_module(force=True)
class ToyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((pred - targets)**2).mean())
        return pred


@DATASETS.register_module(force=True)
class ToyData(Dataset):

    def __init__(self, n=16):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


def runner_cfg(work_dir, max_iters, resume=False, kill_after=None):
    return dict(
        custom_hooks=[dict(type='KillAfter', iters=kill_after)] if kill_after else [],
        model=dict(type='ToyRegressor'),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=dict(type='ToyData'), batch_size=4,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate'), num_workers=0),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=7),
        resume=resume,
        default_scope='sgseg',
        experiment_name=f'resume-{work_dir.name}-{max_iters}-{resume}')


def final_state(runner):
    return copy.deepcopy(runner.model.state_dict()), copy.deepcopy(
        runner.optim_wrapper.optimizer.state_dict())


def test_killed_training_resumes_exactly(tmp_path):
    full = Runner.from_cfg(runner_cfg(tmp_path / 'full', 6))
    full.train()
    weights_full, optim_full = final_state(full)

    # the same run, killed after the checkpoint of iteration 3 ...
    with pytest.raises(Killed):
        Runner.from_cfg(runner_cfg(tmp_path / 'cut', 6, kill_after=3)).train()
    # ... and resumed from it (the `latest` checkpoint of the work dir)
    resumed = Runner.from_cfg(runner_cfg(tmp_path / 'cut', 6, resume=True))
    resumed.train()
    assert resumed.iter == 6
    weights, optim = final_state(resumed)
    for key in weights_full:
        assert torch.equal(weights[key], weights_full[key]), key
    assert optim['state'][0]['step'] == optim_full['state'][0]['step'] == 6
    for k in ('exp_avg', 'exp_avg_sq'):
        assert torch.equal(optim['state'][0][k], optim_full['state'][0][k])


def test_safe_globals_are_what_makes_the_checkpoint_load(tmp_path):
    Runner.from_cfg(runner_cfg(tmp_path / 'one', 3)).train()
    ckpt = tmp_path / 'one' / 'iter_3.pth'
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(Exception, match='(?i)weights_only'):
            torch.load(ckpt, weights_only=True)
    finally:
        register_checkpoint_safe_globals()
    state = torch.load(ckpt, weights_only=True)
    assert state['meta']['iter'] == 3 and 'message_hub' in state
