"""dist_train.sh / dist_test.sh with 2 CPU processes (gloo), and the Slurm scripts
through a fake srun."""
import json
import os
import pickle
import re
import stat

import torch

from tests.fixtures import free_port
from tests.test_reliability.conftest import write_config
from .conftest import run_tool

TRACE = """
custom_imports = dict(imports=['tests.test_reliability.trace_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='TraceHook', out='{out}')]
"""


def traces(path_tmpl, rank):
    path = path_tmpl.replace('{rank}', str(rank))
    return [json.loads(line) for line in open(path)]


def table_rows(output):
    return [line for line in output.splitlines() if re.match(r'^\| *\d+ *\|', line)]


def sorted_lines(path):
    return sorted((json.loads(line) for line in open(path)), key=lambda r: r['sent_id'])


def test_two_processes_train_and_test_like_one(tmp_path, tiny_synthetic):
    trace = str(tmp_path / 'trace_rank{rank}.jsonl')
    config = write_config(tmp_path / 'tiny.py', tiny_synthetic, TRACE.format(out=trace),
                          max_iters=4, ckpt_interval=4)
    work = tmp_path / 'work'
    proc = run_tool('tools/dist_train.sh', str(config), '2', '--work-dir', str(work),
                    '--cfg-options', 'train_cfg.val_interval=100',
                    env=dict(PORT=free_port()))
    log = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    # both ranks trained every iteration, each on its own half of the data
    rank0, rank1 = traces(trace, 0), traces(trace, 1)
    assert [r['iter'] for r in rank0] == [r['iter'] for r in rank1] == [0, 1, 2, 3]
    for a, b in zip(rank0, rank1):
        assert len(a['ids']) == len(b['ids']) == 8 and not set(a['ids']) & set(b['ids'])
    # one checkpoint, written once (by rank 0)
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_4.pth']
    ckpt = work / 'iter_4.pth'
    assert torch.load(ckpt, weights_only=True)['meta']['iter'] == 4

    # Evaluation samples are images with all their sentences. Five images on two ranks:
    # the sampler pads rank 1 with a repeat of the first image, which must not count.
    out2, out1 = tmp_path / 'two.jsonl', tmp_path / 'one.jsonl'
    five = ['--cfg-options', 'test_dataloader.dataset.indices=5']
    two = run_tool('tools/dist_test.sh', str(config), str(ckpt), '2', '--work-dir',
                   str(tmp_path / 't2'), '--out', str(out2), *five, env=dict(PORT=free_port()))
    one = run_tool('tools/test.py', str(config), str(ckpt), '--work-dir', str(tmp_path / 't1'),
                   '--out', str(out1), *five)
    assert sorted_lines(out2) == sorted_lines(out1)
    refs = pickle.load(open(tiny_synthetic / 'refs(unc).p', 'rb'))
    images = sorted({r['image_id'] for r in refs if r['split'] == 'val'})[:5]
    sent_ids = sorted(s['sent_id'] for r in refs if r['image_id'] in images
                      for s in r['sentences'])
    # every sentence of the five images scored exactly once
    assert [r['sent_id'] for r in sorted_lines(out2)] == sent_ids
    rows_two, rows_one = table_rows(two.stdout + two.stderr), table_rows(one.stdout + one.stderr)
    assert rows_two and rows_two[-1] == rows_one[-1]
    assert f'| {len(sent_ids)} |' in rows_two[-1]


def test_gather_negatives_runs_in_two_processes(tmp_path, tiny_synthetic):
    config = write_config(tmp_path / 'tiny.py', tiny_synthetic, max_iters=2, ckpt_interval=2)
    run_tool('tools/dist_train.sh', str(config), '2', '--work-dir', str(tmp_path / 'work'),
             '--cfg-options', 'model.train_cfg.gather_negatives=True',
             'train_cfg.val_interval=100', env=dict(PORT=free_port()))
    state = torch.load(tmp_path / 'work' / 'iter_2.pth', weights_only=True)
    assert state['meta']['iter'] == 2
    assert all(torch.isfinite(v).all() for v in state['state_dict'].values()
               if v.is_floating_point())


FAKE_SRUN = """#!/usr/bin/env bash
# Records srun's arguments, then runs the command as the single task of a 1-task job.
printf '%s\\n' "$@" >> "$SRUN_RECORD"
args=("$@"); i=0
while [[ $i -lt ${#args[@]} ]]; do
  case "${args[$i]}" in
    -p) i=$((i + 2)) ;;
    -*) i=$((i + 1)) ;;
    *) break ;;
  esac
done
SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost exec "${args[@]:$i}"
"""


def test_slurm_scripts_through_a_fake_srun(tmp_path, tiny_synthetic):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / 'srun_args.txt'
    env = dict(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", SRUN_RECORD=str(record),
               GPUS='1', GPUS_PER_NODE='1', CPUS_PER_TASK='2', MASTER_PORT=free_port())
    config = write_config(tmp_path / 'tiny.py', tiny_synthetic, max_iters=2, ckpt_interval=2)
    work = tmp_path / 'work'
    run_tool('tools/slurm_train.sh', 'debugq', 'sg-job', str(config), str(work),
             '--cfg-options', 'train_cfg.val_interval=100', env=env)
    args = record.read_text().splitlines()
    assert args[:2] == ['-p', 'debugq']
    for expected in ('--job-name=sg-job', '--gres=gpu:1', '--ntasks=1', '--ntasks-per-node=1',
                     '--cpus-per-task=2', '--kill-on-bad-exit=1', f'--work-dir={work}',
                     '--launcher=slurm'):
        assert expected in args, (expected, args)
    assert (work / 'iter_2.pth').is_file()

    record.write_text('')
    out = tmp_path / 'slurm.jsonl'
    run_tool('tools/slurm_test.sh', 'debugq', 'sg-test', str(config), str(work / 'iter_2.pth'),
             '--out', str(out), env=dict(env, MASTER_PORT=free_port()))
    args = record.read_text().splitlines()
    assert '--job-name=sg-test' in args and str(work / 'iter_2.pth') in args
    assert len(out.read_text().splitlines()) > 0
