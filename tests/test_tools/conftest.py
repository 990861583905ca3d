import os
import subprocess
import sys
from pathlib import Path

import pytest

from sgseg.datasets.synthetic import make_synthetic_refer

ROOT = Path(__file__).resolve().parents[2]

TINY_CONFIG = """
_base_ = ['{root}/configs/sg_vittiny_synthetic.py']
data_root = '{data}'
embed_dims = 32
max_iters = {max_iters}
model = dict(
    embed_dims=embed_dims,
    backbone=dict(img_size=32, embed_dim=24, depth=1, num_heads=2),
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=2, slots_per_gaussian=2),
        hidden_dims=32, num_iters=2, num_heads=2, inter_num_heads=2, inter_head_dims=16),
    fusion_head=dict(num_heads=2, head_dims=16))
img_scale = (32, 32)
train_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackRefSegInputs'),
]
test_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='LoadRefMask'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackRefSegInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(interval={ckpt_interval}, max_keep_ckpts=10))
"""


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory):
    """A tiny synthetic referring dataset (refer format) shared by the tool tests."""
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_refer(root, num_train_images=24, num_val_images=6, num_test_images=2,
                         num_heldout_scenes_images=0, image_size=48, seed=0)
    return root


def write_tiny_config(path: Path, data_root: Path, max_iters: int = 30,
                      ckpt_interval: int = 15) -> Path:
    path.write_text(TINY_CONFIG.format(root=ROOT, data=data_root, max_iters=max_iters,
                                       ckpt_interval=ckpt_interval))
    return path


def run_tool(*args, timeout=300, env=None) -> subprocess.CompletedProcess:
    """Runs a tools/ script (or bash script) like a user would, from the repo root."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), SGSEG_THREADS='1', **(env or {}))
    cmd = ['bash', *args] if args[0].endswith('.sh') else [sys.executable, *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f'{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc


def load_tool(path: str):
    """A tools/ script imported as a module, so a test can call its parse_args / main."""
    import importlib.util
    name = 'sgseg_tool_' + path.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
