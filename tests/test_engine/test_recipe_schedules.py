"""Every paper recipe trains the authors' schedule, on any world size and dataset length.

For each recipe, world size (1, 2, 8) and dataset length, the test builds what the
Runner builds (the per-process dataloader the sampler shards, the optimizer with its
parameter groups, the param schedulers converted with the real epoch length, the
loss-ramp hook, the epoch loop), steps the schedulers through the whole run, and
compares the lr of every parameter group and the ramp factor at iterations 0, 4999,
5000, the middle and the last with the authors' released training loop, computed here
from its own rules:

* the loss is multiplied by ``total_iter / 5000`` while ``total_iter < 5000``, where
  ``total_iter`` is incremented before the iteration's forward (so 1 at iteration 0);
* ``CosineAnnealingLR(T_max = iterations per epoch * 50)`` is stepped after every
  iteration whose ``total_iter >= 5000``;
* the ViT's group at lr x 0.1, every other group at lr 1e-5;
* 50 epochs of ``ceil(N / 32)`` iterations (a batch of 32 on one process).
"""
import math
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.optim import build_optim_wrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader, Dataset

from sgseg.engine import LossWarmupHook
from sgseg.registry import MODELS, PARAM_SCHEDULERS
from sgseg.utils import apply_global_batch, register_all_modules
from tests.test_configs.test_all_configs import shrink

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ['sg_vits16_refcoco', 'sg_vits16_refcocoplus', 'sg_vits16_refcocog-umd',
           'sg_vits16_refcocog-google', 'sg_vits16_phrasecut', 'sg_vits16_refcoco_released']
ZERO_SHOT = sorted(p.stem for p in (ROOT / 'configs').glob('sg_vits16_phrasecut_zeroshot-*.py'))
# two dataset lengths: 101 and 201 iterations an epoch at the global batch of 32
LENGTHS = (3201, 6405)
WORLD_SIZES = (1, 2, 8)
BASE_LR, BACKBONE_MULT, RAMP = 1e-5, 0.1, 5000


def authors_lr(i: int, base: float, iters_per_epoch: int) -> float:
    """lr of iteration i in the authors' loop (scheduler stepped after i >= 4999)."""
    steps = max(0, i - (RAMP - 1))
    return base * (1 + math.cos(math.pi * steps / (iters_per_epoch * 50))) / 2


def authors_ramp(i: int) -> float:
    total_iter = i + 1
    return total_iter / RAMP if total_iter < RAMP else 1.


class Sentences(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


@pytest.fixture(scope='module', autouse=True)
def registered():
    register_all_modules()


@pytest.fixture(scope='module')
def models():
    """One shrunk model per recipe (the parameter names are the recipe's)."""
    built = {}
    for name in RECIPES:
        cfg = Config.fromfile(str(ROOT / 'configs' / f'{name}.py'))
        built[name] = MODELS.build(shrink(cfg.model.to_dict()))
    return built


def per_process_loader(cfg: Config, length: int, world: int) -> DataLoader:
    """The training dataloader of one of ``world`` processes, sharded by the sampler."""
    apply_global_batch(cfg, world)
    with mock.patch('mmengine.dataset.sampler.get_dist_info', return_value=(0, world)):
        sampler = DefaultSampler(Sentences(length), shuffle=True, seed=0)
    return DataLoader(sampler.dataset, batch_size=cfg.train_dataloader.batch_size,
                      sampler=sampler)


def build_run(name: str, world: int, length: int, model):
    """What the Runner builds for training: loader, epoch loop, optimizer, ramp hook,
    and a function giving the param schedulers (``last_step`` positions them, as
    mmengine's resume without a state dict does)."""
    cfg = Config.fromfile(str(ROOT / 'configs' / f'{name}.py'))
    loader = per_process_loader(cfg, length, world)
    runner = SimpleNamespace(visualizer=SimpleNamespace())
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    loop = EpochBasedTrainLoop(runner, loader,
                               **{k: v for k, v in cfg.train_cfg.items() if k != 'type'})
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)

    def schedulers(last_step: int = -1):
        built = []
        for sched in cfg.param_scheduler:
            sched = dict(sched, optimizer=wrapper, last_step=last_step)
            sched.setdefault('end', loop.max_epochs)  # the Runner's default
            if sched.get('convert_to_iter_based'):
                sched['epoch_length'] = len(loader)
            built.append(PARAM_SCHEDULERS.build(sched))
        return built

    hooks = [h for h in cfg.custom_hooks if h['type'] == 'LossWarmupHook']
    ramp = LossWarmupHook(**{k: v for k, v in hooks[0].items() if k != 'type'}) \
        if hooks else None
    return cfg, loader, loop, wrapper, schedulers, ramp


def base_lrs(model, wrapper):
    """The authors' lr of each parameter group: the ViT's x0.1."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [BASE_LR * (BACKBONE_MULT if names[id(g['params'][0])].startswith('backbone.')
                       else 1.) for g in wrapper.optimizer.param_groups]


def check_iteration(i, wrapper, bases, ramp, iters_per_epoch):
    for group, base in zip(wrapper.optimizer.param_groups, bases):
        assert group['lr'] == pytest.approx(authors_lr(i, base, iters_per_epoch),
                                            rel=1e-9, abs=1e-15), i
    fake = SimpleNamespace(model=SimpleNamespace(loss_scale=None), iter=i)
    ramp.before_train_iter(fake, i)
    assert fake.model.loss_scale == pytest.approx(authors_ramp(i), rel=1e-12), i


@pytest.mark.parametrize('length', LENGTHS)
@pytest.mark.parametrize('world', WORLD_SIZES)
@pytest.mark.parametrize('name', RECIPES)
def test_recipe_schedule_is_the_authors(name, world, length, models):
    model = models[name]
    cfg, loader, loop, wrapper, schedulers, ramp = build_run(name, world, length, model)
    assert cfg.train_dataloader.batch_size * world == 32
    assert cfg.model.train_cfg.gather_negatives, 'C3 must see the whole global batch'
    assert [h['type'] for h in cfg.custom_hooks] == ['LossWarmupHook']
    # training ends after exactly 50 epochs of the global batch
    iters_per_epoch = math.ceil(length / 32)
    assert len(loader) == iters_per_epoch
    assert loop.max_iters == 50 * iters_per_epoch
    assert wrapper.clip_grad_kwargs == dict(max_norm=0.1, norm_type=2)
    groups = wrapper.optimizer.param_groups
    bases = base_lrs(model, wrapper)
    assert BASE_LR * BACKBONE_MULT in bases and BASE_LR in bases
    assert all(g['weight_decay'] == 1e-4 for g in groups)
    assert all(s.end == loop.max_iters for s in schedulers())

    last = loop.max_iters - 1
    for i in sorted({0, RAMP - 1, RAMP, last // 2, last}):
        schedulers(last_step=i - 1)  # the schedulers' state at iteration i
        check_iteration(i, wrapper, bases, ramp, iters_per_epoch)


@pytest.mark.filterwarnings('ignore:Detected call of `scheduler.step()`')
def test_stepping_every_iteration_gives_the_same_schedule(models):
    """The path of a real run: ParamSchedulerHook steps after every iteration."""
    name, world, length = 'sg_vits16_refcoco', 8, LENGTHS[0]
    model = models[name]
    _, loader, loop, wrapper, schedulers, ramp = build_run(name, world, length, model)
    built, bases = schedulers(), base_lrs(model, wrapper)
    last = loop.max_iters - 1
    checks = {0, RAMP - 1, RAMP, last // 2, last}
    for i in range(loop.max_iters):
        if i in checks:
            check_iteration(i, wrapper, bases, ramp, len(loader))
        for sched in built:
            if not sched.by_epoch:
                sched.step()


@pytest.mark.filterwarnings('ignore:Detected call of `scheduler.step()`')
def test_sec41_ablation_trains_1e4_everywhere_without_ramp_or_clip(models):
    """Sec. 4.1's literal schedule: 1e-4 on every group, cosine from iteration 0."""
    name = 'ablations/sg_vits16_refcoco_schedule-sec4.1-lr1e-4-everywhere'
    cfg, loader, loop, wrapper, schedulers, _ = build_run(name, 2, LENGTHS[0],
                                                          models['sg_vits16_refcoco'])
    assert not cfg.custom_hooks and not wrapper.clip_grad_kwargs
    total = loop.max_iters
    assert total == 50 * len(loader)
    for i in (0, total // 2, total - 1):
        built = schedulers()
        for _ in range(i):
            for sched in built:
                sched.step()
        expected = 1e-4 * (1 + math.cos(math.pi * i / total)) / 2
        lrs = [g['lr'] for g in wrapper.optimizer.param_groups]
        assert lrs == pytest.approx([expected] * len(lrs), rel=1e-6, abs=1e-15), i
        for group in wrapper.optimizer.param_groups:
            group['lr'] = group['initial_lr']


@pytest.mark.parametrize('name', ZERO_SHOT)
def test_zero_shot_configs_train_the_phrasecut_recipe(name):
    """A zero-shot config only changes the test set: its training is PhraseCut's."""
    zero = Config.fromfile(str(ROOT / 'configs' / f'{name}.py'))
    phrasecut = Config.fromfile(str(ROOT / 'configs' / 'sg_vits16_phrasecut.py'))
    for key in ('model', 'optim_wrapper', 'param_scheduler', 'custom_hooks', 'train_cfg',
                'train_dataloader', 'global_batch_size', 'amp', 'auto_scale_lr'):
        assert zero[key] == phrasecut[key], key
    assert zero.test_dataloader != phrasecut.test_dataloader
