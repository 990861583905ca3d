"""tools/train.py's config preparation: AMP switching and the global batch split."""
import logging
from pathlib import Path

import pytest
from mmengine.config import Config

import sgseg.utils.config as train_config
from sgseg.utils import apply_amp, apply_global_batch, launcher_world_size

ROOT = Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / 'configs' / 'sg_vits16_refcoco.py')


@pytest.fixture
def recipe():
    return Config.fromfile(RECIPE)


def test_amp_auto_is_off_on_the_cpu_and_on_with_cuda(recipe, monkeypatch):
    assert recipe.amp == 'auto'
    cpu = Config(recipe.to_dict())
    assert apply_amp(cpu, cuda=False) is None
    assert cpu.optim_wrapper.type == 'NonFiniteGuardOptimWrapper'
    assert 'dtype' not in cpu.optim_wrapper

    import torch
    for bf16, dtype in ((True, 'bfloat16'), (False, 'float16')):
        monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda: bf16)
        gpu = Config(recipe.to_dict())
        assert apply_amp(gpu, cuda=True) == dtype
        assert gpu.optim_wrapper.type == 'NonFiniteGuardAmpOptimWrapper'
        assert gpu.optim_wrapper.dtype == dtype and gpu.optim_wrapper.loss_scale == 'dynamic'
        # clipping stays, and mmengine's AmpOptimWrapper unscales before clipping
        assert gpu.optim_wrapper.clip_grad == dict(max_norm=0.1, norm_type=2)


def test_amp_false_and_forced(recipe):
    off = Config(dict(recipe.to_dict(), amp=False))
    assert apply_amp(off, cuda=True) is None
    forced = Config(dict(recipe.to_dict(), amp=False))
    assert apply_amp(forced, force=True, cuda=True) in ('float16', 'bfloat16')
    assert forced.optim_wrapper.type == 'NonFiniteGuardAmpOptimWrapper'
    # forced on a machine without CUDA: refused at start-up, not when the Runner builds it
    with pytest.raises(RuntimeError, match='--amp: automatic mixed precision needs a GPU'):
        apply_amp(Config(dict(recipe.to_dict(), amp=False)), force=True, cuda=False)
    with pytest.raises(ValueError, match=r"config key amp must be one of .*got 'yes'"):
        apply_amp(Config(dict(recipe.to_dict(), amp='yes')))
    custom = Config(dict(amp=True, optim_wrapper=dict(type='MyWrapper')))
    with pytest.raises(ValueError, match="optim_wrapper.type 'MyWrapper' has no AMP variant"):
        apply_amp(custom, cuda=True)


def test_amp_step_unscales_before_clipping():
    """The order the recipes rely on: AmpOptimWrapper.step unscales, then clips."""
    import inspect

    from mmengine.optim import AmpOptimWrapper
    source = inspect.getsource(AmpOptimWrapper.step)
    assert source.index('unscale_') < source.index('_clip_grad')


@pytest.mark.parametrize('world', (1, 2, 4, 8))
def test_global_batch_is_split_over_the_processes(recipe, world):
    apply_global_batch(recipe, world)
    assert recipe.train_dataloader.batch_size * world == 32
    assert not recipe.auto_scale_lr.enable


def test_another_global_batch_scales_the_lr_and_warns(recipe, monkeypatch):
    logged = []
    monkeypatch.setattr(train_config, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: logged.append((level, msg)))
    recipe.global_batch_size = 64
    apply_global_batch(recipe, 8)
    assert recipe.train_dataloader.batch_size == 8
    assert recipe.auto_scale_lr.enable and recipe.auto_scale_lr.base_batch_size == 32
    warnings = [msg for level, msg in logged if level == logging.WARNING]
    assert len(warnings) == 1
    assert "C3's negative pool is now 64 images per sentence instead of 32" in warnings[0]


def test_global_batch_errors(recipe):
    with pytest.raises(ValueError, match=r'global_batch_size \(32\) must be a positive '
                                         r'multiple of the number of processes \(3\)'):
        apply_global_batch(Config(recipe.to_dict()), 3)
    with pytest.raises(ValueError, match='set --cfg-options global_batch_size=N instead'):
        apply_global_batch(recipe, 1, {'train_dataloader.batch_size': 16})


def test_a_config_without_a_global_batch_is_left_alone():
    cfg = Config.fromfile(str(ROOT / 'configs' / 'sg_vittiny_synthetic.py'))
    before = cfg.train_dataloader.batch_size
    apply_global_batch(cfg, 2)
    assert cfg.train_dataloader.batch_size == before
    assert apply_amp(cfg, cuda=True) is None  # the CPU default asks for no AMP


def test_world_size_from_the_launcher(monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '8')
    monkeypatch.setenv('SLURM_NTASKS', '16')
    assert launcher_world_size('none') == 1
    assert launcher_world_size('pytorch') == 8
    assert launcher_world_size('slurm') == 16
