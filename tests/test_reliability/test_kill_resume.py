"""SIGKILL a CPU training run at 3 random points; each --resume continues bit-exactly."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from .conftest import ROOT, write_config

MAX_ITERS = 9


def trace_config(path, data_root, trace):
    extra = f"""
custom_imports = dict(imports=['tests.test_reliability.trace_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='TraceHook', out='{trace}')]
randomness = dict(seed=3, deterministic=True)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(
    type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2))
optim_wrapper = dict(type='NonFiniteGuardOptimWrapper')
"""
    return write_config(path, data_root, extra, max_iters=MAX_ITERS, ckpt_interval=1)


def start_train(config, work, resume=False):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SGSEG_THREADS='1')
    cmd = [sys.executable, str(ROOT / 'tools/train.py'), str(config), '--work-dir', str(work),
           '--cfg-options', f'train_cfg.val_interval={MAX_ITERS + 1}']
    log = open(work.parent / f'{work.name}-{time.monotonic_ns()}.log', 'w')
    return subprocess.Popen(cmd + (['--resume'] if resume else []), cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT), log.name


def read_trace(path):
    """{iter: [(ids, loss), ...]} in the order written; a line cut by the kill is dropped."""
    seen = {}
    if not path.exists():
        return seen
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        seen.setdefault(rec['iter'], []).append((rec['ids'], rec['loss']))
    return seen


def wait_for_iter(proc, trace, it, timeout=120):
    start = time.time()
    while it not in read_trace(trace):
        assert proc.poll() is None, f'training ended before iteration {it}'
        assert time.time() - start < timeout, f'iteration {it} not reached'
        time.sleep(0.02)


def test_sigkill_at_three_points_then_resume_is_bit_exact(tmp_path, tiny_synthetic):
    ref_trace, cut_trace = tmp_path / 'ref.jsonl', tmp_path / 'cut.jsonl'
    ref_cfg = trace_config(tmp_path / 'ref.py', tiny_synthetic, ref_trace)
    cut_cfg = trace_config(tmp_path / 'cut.py', tiny_synthetic, cut_trace)
    ref_work, cut_work = tmp_path / 'ref', tmp_path / 'cut'
    # the uninterrupted reference runs beside the killed chain (one thread each)
    ref, ref_log = start_train(ref_cfg, ref_work)

    seed = random.randrange(10**6)
    kill_at = sorted(random.Random(seed).sample(range(1, MAX_ITERS - 1), 3))
    print(f'kill points (after iterations, 0-based) {kill_at}; seed {seed}')
    logs = []
    for k, it in enumerate(kill_at):
        proc, log = start_train(cut_cfg, cut_work, resume=k > 0)
        logs.append(log)
        wait_for_iter(proc, cut_trace, it)
        # a random instant inside the next iteration or its checkpoint write
        time.sleep(random.Random(seed + k).uniform(0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc, log = start_train(cut_cfg, cut_work, resume=True)
    logs.append(log)
    assert proc.wait(timeout=300) == 0, Path(log).read_text()[-3000:]
    assert ref.wait(timeout=300) == 0, Path(ref_log).read_text()[-3000:]

    # every resume skipped the trained batches of the InfiniteSampler
    resumed_logs = [Path(p).read_text() for p in logs[1:]]
    assert sum('Advance dataloader' in text for text in resumed_logs) >= 2

    expected = read_trace(ref_trace)
    got = read_trace(cut_trace)
    assert sorted(expected) == sorted(got) == list(range(MAX_ITERS))
    for it in range(MAX_ITERS):
        # an iteration run again after a kill repeats the same batch and loss, bit for bit
        assert all(rec == expected[it][0] for rec in got[it]), (it, got[it], expected[it])
    assert any(len(v) > 1 for v in got.values()), 'no iteration was ever repeated'

    final_ref = torch.load(ref_work / f'iter_{MAX_ITERS}.pth', weights_only=True)
    final_cut = torch.load(cut_work / f'iter_{MAX_ITERS}.pth', weights_only=True)
    for name, value in final_ref['state_dict'].items():
        assert torch.equal(value, final_cut['state_dict'][name]), name
    assert torch.equal(final_ref['random_states']['torch'], final_cut['random_states']['torch'])
