"""Your own data through the tools: the synthetic generator's image-text files and
shards, training and testing from a JSONL file, and a run from shards killed and
resumed exactly."""
import itertools
import json
import os
import runpy
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader

from sgseg.datasets import WebImageTextDataset
from tests.test_reliability.conftest import SMALL_TEXT
from .conftest import ROOT, TINY_CONFIG, run_tool

TRACE = """
custom_imports = dict(imports=['tests.test_reliability.trace_hook', 'tests.test_tools.exit_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='TraceHook', out='{trace}'),
                dict(type='ExitAfterHook', iters={exit_after})]
"""
SMALL = ['--num-train', '24', '--num-val', '4', '--num-test', '1', '--num-heldout-scenes', '0',
         '--image-size', '48']


@pytest.fixture(scope='module')
def synthetic_wds(tmp_path_factory):
    """The tiny synthetic data as image-text files plus shards, by the generator's CLI."""
    root = tmp_path_factory.mktemp('own') / 'wds'
    run_tool('tools/dataset_converters/make_synthetic_refer.py', '--out', str(root),
             '--format', 'wds', '--shard-size', '6', *SMALL)
    return root


def tiny_config(path, recipe, data_root, max_iters, extra=''):
    """The tools' tiny config on ``recipe``, with a small random text encoder."""
    base = path.with_name(path.stem + '_base.py')
    base.write_text(TINY_CONFIG.format(root=ROOT, data=data_root, max_iters=max_iters,
                                       ckpt_interval=5)
                    .replace('configs/sg_vittiny_synthetic.py', f'configs/{recipe}'))
    path.write_text(f"_base_ = ['{base}']\n" + SMALL_TEXT + extra)
    return path


def test_generator_writes_image_text_files_and_shards(synthetic_wds, capsys):
    assert sorted(p.name for p in synthetic_wds.glob('*.jsonl')) == [
        'heldout_phrasing.jsonl', 'testA.jsonl', 'testB.jsonl', 'train.jsonl', 'val.jsonl']
    assert not (synthetic_wds / 'refs(unc).p').exists()
    assert not (synthetic_wds / 'instances.json').exists()
    assert sorted(p.name for p in (synthetic_wds / 'shards').iterdir()) == [
        f'train-{i:06d}.tar' for i in range(4)]
    rows = [json.loads(line) for line in (synthetic_wds / 'train.jsonl').read_text().splitlines()]
    assert len({r['image'] for r in rows}) == 24
    assert all(set(r) == {'image', 'texts', 'mask'} for r in rows)
    argv = sys.argv
    try:
        sys.argv = ['image_text.py', 'check', str(synthetic_wds / 'val.jsonl')]
        with pytest.raises(SystemExit) as code:
            runpy.run_path(str(ROOT / 'tools/dataset_converters/image_text.py'),
                           run_name='__main__')
    finally:
        sys.argv = argv
    assert code.value.code == 0
    assert capsys.readouterr().out.strip().endswith('OK')


def test_train_and_evaluate_from_jsonl(synthetic_wds, tmp_path):
    """10 iterations from train.jsonl, then the validation on val.jsonl's masks."""
    config = tiny_config(tmp_path / 'jsonl.py', 'sg_vittiny_synthetic_jsonl.py',
                         synthetic_wds, max_iters=10)
    work = tmp_path / 'work'
    proc = run_tool('tools/train.py', str(config), '--work-dir', str(work))
    assert (work / 'iter_10.pth').is_file()
    log = proc.stdout + proc.stderr
    metrics = [line for line in log.splitlines() if 'Iter(val)' in line and 'mIoU' in line]
    assert metrics and 'cIoU' in metrics[-1] and 'PointM' in metrics[-1]


def train(config, work, resume=False):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SGSEG_THREADS='1')
    cmd = [sys.executable, str(ROOT / 'tools/train.py'), str(config), '--work-dir', str(work)]
    return subprocess.run(cmd + (['--resume'] if resume else []), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def ids(batch):
    return [sample['sent_id'] for sample in batch]


def test_train_from_shards_killed_then_resumed_sees_the_same_samples(synthetic_wds, tmp_path):
    """A run from shards (2 workers) killed after iteration 7 and resumed from its
    iteration-5 checkpoint trains to 10 on exactly the batches the stream defines."""
    trace = tmp_path / 'trace.jsonl'
    config = tiny_config(tmp_path / 'cut.py', 'sg_vittiny_synthetic_wds.py', synthetic_wds,
                         10, TRACE.format(trace=trace, exit_after=7))
    proc = train(config, tmp_path / 'work')
    assert proc.returncode == 3, proc.stderr[-3000:]
    config.write_text(config.read_text().replace('iters=7', 'iters=100'))
    proc = train(config, tmp_path / 'work', resume=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'WebImageTextDataset resumes after 5 batches per rank' in log
    assert 'split otherwise' not in log
    split = torch.load(tmp_path / 'work' / 'iter_5.pth', weights_only=True)['stream_split']
    assert split == dict(world_size=1, num_workers=2, batch_size=8, seed=0, num_shards=4)
    assert (tmp_path / 'work' / 'iter_10.pth').is_file()

    # the stream as the dataset defines it, read directly (no training)
    dataset = WebImageTextDataset(shards='shards', data_root=str(synthetic_wds), seed=0)
    loader = DataLoader(dataset, batch_size=8, num_workers=2, collate_fn=ids)
    expected = list(itertools.islice(loader, 10))
    seen = [i for b in expected for i in b]
    # 24 images in 4 shards, 2 workers: 10 batches of 8 span more than 3 epochs
    assert len(set(seen)) == 24 and max(seen.count(i) for i in seen) <= 4

    runs = [json.loads(line) for line in trace.read_text().splitlines()]
    # iterations 0-6 before the kill, then 5-9 again after resuming from iter_5.pth
    assert [r['iter'] for r in runs] == list(range(7)) + list(range(5, 10))
    assert [r['ids'] for r in runs[:7]] == expected[:7]
    assert [r['ids'] for r in runs[7:]] == expected[5:]
