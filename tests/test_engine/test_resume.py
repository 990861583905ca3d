"""Resume: torch >= 2.6 loading (weights_only=True), and what --resume finds in a work dir."""
import copy
import re
import shutil

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from sgseg.engine import CheckpointFileError, register_checkpoint_safe_globals
from sgseg.engine.hooks.resume_check_hook import optimizer_shape_problems
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


# --------------------------------------------------------------- what --resume finds
def log_text(work_dir):
    """Everything the runners of ``work_dir`` logged."""
    return '\n'.join(p.read_text() for p in sorted(work_dir.glob('*/*.log')))


def toy_train(work_dir, max_iters, **kwargs):
    from tests.test_reliability.toy import toy_cfg
    runner = Runner.from_cfg(toy_cfg(work_dir, max_iters=max_iters, **kwargs))
    runner.train()
    return runner


def test_resume_in_an_empty_work_dir_says_so_and_starts_from_scratch(tmp_path):
    runner = toy_train(tmp_path / 'typo', 2, resume=True)
    assert runner.iter == 2
    text = log_text(tmp_path / 'typo')
    assert re.search(r"--resume: no checkpoint found in '.*typo' .*; training starts from "
                     r'scratch', text)
    assert 'latest checkpoint None' not in text


def test_copied_work_dir_resumes_from_its_own_checkpoint(tmp_path):
    toy_train(tmp_path / 'orig', 2)
    shutil.copytree(tmp_path / 'orig', tmp_path / 'copy')
    for ckpt in (tmp_path / 'orig').glob('*.pth'):  # the original is gone: the copy must do
        ckpt.unlink()
    assert str(tmp_path / 'orig') in (tmp_path / 'copy' / 'last_checkpoint').read_text()
    runner = toy_train(tmp_path / 'copy', 3, resume=True)
    assert runner.iter == 3
    text = log_text(tmp_path / 'copy')
    assert re.search(r"'last_checkpoint' names '.*orig/iter_2.pth', which is not in this work "
                     r"dir; resuming from '.*copy/iter_2.pth'", text)
    assert (tmp_path / 'copy' / 'last_checkpoint').read_text().endswith('copy/iter_3.pth')


@pytest.mark.parametrize('damage', ['truncate', 'empty', 'text'])
def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path, damage):
    work = tmp_path / damage
    toy_train(work, 3)
    newest = work / 'iter_3.pth'
    data = newest.read_bytes()
    newest.write_bytes({'truncate': data[:len(data) // 2], 'empty': b'',
                        'text': b'not a checkpoint\n'}[damage])
    runner = toy_train(work, 4, resume=True)
    assert runner.iter == 4
    text = log_text(work)
    assert re.search(r"--resume: skipped iter_3.pth (is truncated|is empty|is not a PyTorch)"
                     r".*; resuming from '.*iter_2.pth'", text)
    assert 'resumed epoch: 0, iter: 2' in text


def test_resume_with_no_intact_checkpoint_names_each_file(tmp_path):
    work = tmp_path / 'broken'
    toy_train(work, 2)
    for ckpt in work.glob('iter_*.pth'):
        ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(CheckpointFileError) as err:
        toy_train(work, 3, resume=True)
    message = str(err.value)
    assert '\n' not in message and 'weights_only' not in message
    assert re.search(r"no usable checkpoint in '.*broken': iter_2.pth is truncated.*; "
                     r'iter_1.pth is truncated', message)


def test_resume_with_another_architecture_is_refused_before_resuming(tmp_path):
    work = tmp_path / 'arch'
    toy_train(work, 2)
    with pytest.raises(ValueError, match=r'linear.weight: checkpoint \(1, 4\) vs model \(2, 4\)'):
        toy_train(work, 3, resume=True, width=2)
    assert 'resumed' not in log_text(work)


def test_new_lr_and_schedule_on_resume_are_named_and_the_checkpoints_win(tmp_path):
    work = tmp_path / 'lr'

    def schedule(end):
        return [dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=end)]

    toy_train(work, 2, param_scheduler=schedule(4))
    runner = toy_train(work, 3, resume=True, lr=0.05, param_scheduler=schedule(8))
    text = log_text(work)
    assert re.search(r"this config differs from checkpoint '.*iter_2.pth' in 3 value\(s\); the "
                     r"CHECKPOINT's values are used", text)
    assert 'optimizer lr: config 0.05, checkpoint 0.01' in text
    assert 'param_scheduler[0] end: config 8, checkpoint 4' in text  # and total_iters
    # the checkpoint's run continued: lr 0.01 ramped from half over 3 steps, at full after
    # 3 iterations (the config's would be 0.05 * (0.5 + 0.5 * 3 / 7))
    assert runner.param_schedulers[0].end == 4
    assert runner.optim_wrapper.optimizer.param_groups[0]['lr'] == pytest.approx(0.01)


def test_resume_from_a_given_broken_checkpoint_is_one_line(tmp_path):
    work = tmp_path / 'given'
    toy_train(work, 2)
    (work / 'iter_2.pth').write_bytes(b'')
    with pytest.raises(CheckpointFileError, match=r"checkpoint '.*iter_2.pth' is empty"):
        toy_train(work, 3, resume=True, load_from=str(work / 'iter_2.pth'))


def test_optimizer_state_of_other_shapes_is_named():
    params = [nn.Parameter(torch.zeros(2, 4))]
    optimizer = torch.optim.Adam(params)
    saved = dict(param_groups=[dict(params=[0])],
                 state={0: dict(step=torch.tensor(1.), exp_avg=torch.zeros(1, 4))})
    assert optimizer_shape_problems(optimizer, saved) == [
        'state 0.exp_avg: checkpoint (1, 4) vs parameter (2, 4)']
    saved['param_groups'].append(dict(params=[1]))
    assert optimizer_shape_problems(optimizer, saved) == [
        'parameter groups of sizes [1] in this config, [1, 1] in the checkpoint']
