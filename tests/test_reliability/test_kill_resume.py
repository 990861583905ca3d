"""SIGKILL a CPU training run at 3 chosen points past its first pass over the sentences;
each --resume continues bit-exactly, the text-feature cache included.

The kill points are not left to timing: ``PauseHook`` (pause_hook.py) stops the process
at the chosen point and creates a file, and the test kills it when the file appears.
"""
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from .conftest import ROOT, write_config

BATCH = 16
# (where, 0-based iteration): inside an iteration (stepped and traced, checkpoint not
# written), inside a checkpoint write (temporary file complete, not yet renamed), and
# inside an iteration again; all past the first pass over the sentences.
KILLS = [('iter', 1), ('checkpoint', 2), ('iter', 4)]
EXTRA_ITERS = 6  # iterations beyond the first pass (the last kill is at one_pass + 4)


def trace_config(path, data_root, trace, max_iters, pause=None):
    hooks = [f"dict(type='TraceHook', out='{trace}')"]
    if pause is not None:
        where, it, signal_file = pause
        hooks.append(f"dict(type='PauseHook', where='{where}', iter={it}, "
                     f"signal_file='{signal_file}')")
    # a small random BERT, frozen with its features cached as in the default config
    extra = f"""
model = dict(text_encoder=dict(_delete_=True, type='HFTextEncoder', frozen=True,
                               cache_features=True,
                               config=dict(vocab_size=30522, hidden_size=16,
                                           num_hidden_layers=1, num_attention_heads=2,
                                           intermediate_size=32)))
custom_imports = dict(imports=['tests.test_reliability.trace_hook',
                               'tests.test_reliability.pause_hook'], allow_failed_imports=False)
custom_hooks = [{', '.join(hooks)}]
randomness = dict(seed=3, deterministic=True)
train_dataloader = dict(batch_size={BATCH})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(
    type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2))
optim_wrapper = dict(type='NonFiniteGuardOptimWrapper')
"""
    return write_config(path, data_root, extra, small_text=False, max_iters=max_iters,
                        ckpt_interval=1)


def start_train(config, work, max_iters, resume=False):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SGSEG_THREADS='1')
    cmd = [sys.executable, str(ROOT / 'tools/train.py'), str(config), '--work-dir', str(work),
           '--cfg-options', f'train_cfg.val_interval={max_iters + 1}']
    log = open(work.parent / f'{work.name}-{time.monotonic_ns()}.log', 'w')
    return subprocess.Popen(cmd + (['--resume'] if resume else []), cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT), log.name


def read_trace(path):
    """{iter: [(ids, loss), ...]} in the order written."""
    seen = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        seen.setdefault(rec['iter'], []).append((rec['ids'], rec['loss']))
    return seen


def kill_when_paused(proc, signal_file, log, timeout=300):
    start = time.time()
    while not signal_file.exists():
        assert proc.poll() is None, 'training ended before its pause point:\n' + \
            Path(log).read_text()[-3000:]
        assert time.time() - start < timeout, f'{signal_file.name} never appeared'
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return signal_file.read_text()


def train_sentences(data_root):
    with open(data_root / 'refs(unc).p', 'rb') as f:
        refs = pickle.load(f)
    return sum(len(r['sentences']) for r in refs if r['split'] == 'train')


def test_sigkill_at_three_points_then_resume_is_bit_exact(tmp_path, tiny_synthetic):
    one_pass = math.ceil(train_sentences(tiny_synthetic) / BATCH)
    max_iters = one_pass + EXTRA_ITERS
    ref_trace, cut_trace = tmp_path / 'ref.jsonl', tmp_path / 'cut.jsonl'
    ref_work, cut_work = tmp_path / 'ref', tmp_path / 'cut'
    # the uninterrupted reference runs beside the killed chain (one thread each)
    ref, ref_log = start_train(trace_config(tmp_path / 'ref.py', tiny_synthetic, ref_trace,
                                            max_iters), ref_work, max_iters)
    logs = []
    for k, (where, it) in enumerate(KILLS):
        signal_file = tmp_path / f'paused-{k}'
        config = trace_config(tmp_path / f'cut{k}.py', tiny_synthetic, cut_trace, max_iters,
                              pause=(where, one_pass + it, signal_file))
        proc, log = start_train(config, cut_work, max_iters, resume=k > 0)
        logs.append(log)
        stopped = kill_when_paused(proc, signal_file, log)
        if where == 'checkpoint':
            # killed with the checkpoint complete in its temporary file, not yet renamed
            target = f'iter_{one_pass + it + 1}.pth'
            assert stopped.endswith(target) and not (cut_work / target).exists()
            assert any(p.name.startswith(f'.{target}.') for p in cut_work.iterdir())
    proc, log = start_train(trace_config(tmp_path / 'cut.py', tiny_synthetic, cut_trace,
                                         max_iters), cut_work, max_iters, resume=True)
    logs.append(log)
    assert proc.wait(timeout=300) == 0, Path(log).read_text()[-3000:]
    assert ref.wait(timeout=300) == 0, Path(ref_log).read_text()[-3000:]

    # the temporary file of the write cut short was removed on resume
    assert not list(cut_work.glob('.*.tmp'))
    # every resume skipped the trained batches of the InfiniteSampler
    assert all('Advance dataloader' in Path(p).read_text() for p in logs[1:])

    expected, got = read_trace(ref_trace), read_trace(cut_trace)
    assert sorted(expected) == sorted(got) == list(range(max_iters))
    for it in range(max_iters):
        # an iteration run again after a kill repeats the same batch and loss, bit for bit
        assert all(rec == expected[it][0] for rec in got[it]), (it, got[it], expected[it])
    # each kill inside an iteration or a checkpoint write made that iteration run twice
    repeated = sorted(it for it, recs in got.items() if len(recs) > 1)
    assert repeated == [one_pass + it for _, it in KILLS], repeated

    final_ref = torch.load(ref_work / f'iter_{max_iters}.pth', weights_only=True)
    final_cut = torch.load(cut_work / f'iter_{max_iters}.pth', weights_only=True)
    for name, value in final_ref['state_dict'].items():
        assert torch.equal(value, final_cut['state_dict'][name]), name
    assert torch.equal(final_ref['random_states']['torch'], final_cut['random_states']['torch'])
