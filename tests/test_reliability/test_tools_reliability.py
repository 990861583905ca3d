"""tools/test.py: repeatable metrics, the spread over seeds, a checkpoint of another config."""
import re
import subprocess
import sys

import pytest

from .conftest import ROOT, run_tool, write_config


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_synthetic):
    tmp = tmp_path_factory.mktemp('rel_tools')
    config = write_config(tmp / 'tiny.py', tiny_synthetic, max_iters=2, ckpt_interval=2)
    run_tool('tools/train.py', str(config), '--work-dir', str(tmp / 'work'), '--cfg-options',
             'train_cfg.val_interval=100')
    return tmp, config, tmp / 'work' / 'iter_2.pth'


def table(output):
    """The metric table's data rows (the last table printed)."""
    return [line for line in output.splitlines() if re.match(r'^\| *(\d+|mean|std) *\|', line)]


def test_same_seed_same_metrics_and_spread_over_three_seeds(trained):
    tmp, config, ckpt = trained
    runs = [run_tool('tools/test.py', str(config), str(ckpt), '--work-dir', str(tmp / 'test'),
                     '--seeds', '3', '--out', str(tmp / f'out{k}.jsonl')) for k in range(2)]
    rows = [table(r.stdout + r.stderr) for r in runs]
    assert rows[0] == rows[1]
    assert [r.split('|')[1].strip() for r in rows[0]] == ['0', '1', '2', 'mean', 'std']
    assert (tmp / 'out0.jsonl').read_text() == (tmp / 'out1.jsonl').read_text()
    # the seeds do change the slots: the per-seed rows are not all equal
    assert len({r.split('|', 2)[2] for r in rows[0][:3]}) > 1


def test_checkpoint_of_another_config_names_the_parameters(trained, tmp_path, tiny_synthetic):
    _, _, ckpt = trained
    other = write_config(tmp_path / 'wide.py', tiny_synthetic, 'model = dict(embed_dims=48)\n')
    proc = subprocess.run([sys.executable, 'tools/test.py', str(other), str(ckpt), '--work-dir',
                           str(tmp_path / 'w')], cwd=ROOT, capture_output=True, text=True,
                          env={'PYTHONPATH': str(ROOT), 'SGSEG_THREADS': '1',
                               'PATH': '/usr/bin:/bin'})
    assert proc.returncode != 0
    assert re.search(r'ValueError: checkpoint .*iter_2.pth.* does not match the model of this '
                     r'config \(\d+ parameters differ\)', proc.stderr)
    assert 'entity_discovery.norm_slots.bias: checkpoint (32,) vs model (48,)' in proc.stderr
    assert re.search(r'\.\.\. and \d+ more', proc.stderr)
