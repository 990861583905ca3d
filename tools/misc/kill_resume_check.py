"""SIGKILL a training run of a config at 3 points past its first pass over the training
sentences, resume it each time, and compare it bit for bit with an uninterrupted run.

The kill points are chosen, not timed: the test hooks of ``tests/test_reliability``
(``PauseHook``) stop the process inside an iteration (stepped, checkpoint not written) and
inside a checkpoint write (temporary file complete, not renamed), and the process is
killed there. Both runs use one thread and the same seed. Prints the iterations that ran
more than once, those whose batch or loss differ from the uninterrupted run (none
expected), and the parameters, optimizer moments and random state that differ at the end.

    python tools/misc/kill_resume_check.py configs/sg_vittiny_synthetic.py \
        --data-root data/synthetic_refer --work-dir work_dirs/kill_resume_check
"""
import argparse
import json
import math
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from sgseg.registry import DATASETS  # noqa: E402
from sgseg.utils import register_all_modules  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--data-root', required=True, help="the config's data root")
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--ckpt-interval', type=int, default=20)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def write_config(args, work, name, trace, pause=None):
    hooks = [f"dict(type='TraceHook', out='{trace}')"]
    if pause:
        hooks.append(f"dict(type='PauseHook', where='{pause[0]}', iter={pause[1]}, "
                     f"signal_file='{pause[2]}')")
    path = work / f'{name}.py'
    path.write_text(f"""_base_ = ['{Path(args.config).resolve()}']
data_root = '{Path(args.data_root).resolve()}'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
custom_imports = dict(imports=['tests.test_reliability.trace_hook',
                               'tests.test_reliability.pause_hook'], allow_failed_imports=False)
custom_hooks = [{', '.join(hooks)}]
default_hooks = dict(checkpoint=dict(interval={args.ckpt_interval}, max_keep_ckpts=3))
""")
    return path


def start(args, config, work, max_iters, resume=False):
    env = dict(os.environ, PYTHONPATH=ROOT, SGSEG_THREADS='1')
    cmd = [sys.executable, str(Path(ROOT) / 'tools/train.py'), str(config), '--work-dir', str(work),
           '--threads', '1', '--cfg-options', f'train_cfg.max_iters={max_iters}',
           f'train_cfg.val_interval={max_iters + 1}', f'randomness.seed={args.seed}']
    log = work.parent / f'{work.name}-{time.monotonic_ns()}.log'
    proc = subprocess.Popen(cmd + (['--resume'] if resume else []), cwd=ROOT, env=env,
                            stdout=open(log, 'w'), stderr=subprocess.STDOUT)
    return proc, log


def read_trace(path):
    seen = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        seen.setdefault(rec['iter'], []).append((rec['ids'], rec['loss']))
    return seen


def main():
    args = parse_args()
    register_all_modules()
    init_default_scope('sgseg')
    cfg = Config.fromfile(args.config)
    cfg.train_dataloader.dataset.data_root = args.data_root
    num_samples = len(DATASETS.build(cfg.train_dataloader.dataset))
    one_pass = math.ceil(num_samples / cfg.train_dataloader.batch_size)
    kills = [('iter', one_pass + 1), ('checkpoint', one_pass + 3), ('iter', one_pass + 6)]
    max_iters = one_pass + 9
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f'{num_samples} training samples, one pass = {one_pass} iterations; kills at '
          f'{kills}; {max_iters} iterations', flush=True)

    ref_trace, cut_trace = work / 'ref.jsonl', work / 'cut.jsonl'
    for path in (ref_trace, cut_trace):
        path.unlink(missing_ok=True)
    ref, ref_log = start(args, write_config(args, work, 'ref', ref_trace), work / 'ref',
                         max_iters)
    for k, (where, it) in enumerate(kills):
        signal_file = work / f'paused{k}'
        signal_file.unlink(missing_ok=True)
        config = write_config(args, work, f'cut{k}', cut_trace, (where, it, signal_file))
        proc, log = start(args, config, work / 'cut', max_iters, resume=k > 0)
        while not signal_file.exists():
            if proc.poll() is not None:
                sys.exit(f'training ended before its pause point; see {log}')
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        print(f'killed: {signal_file.read_text()}', flush=True)
    proc, log = start(args, write_config(args, work, 'cut_last', cut_trace), work / 'cut',
                      max_iters, resume=True)
    if proc.wait() != 0 or ref.wait() != 0:
        sys.exit(f'a run failed; see {log} and {ref_log}')

    expected, got = read_trace(ref_trace), read_trace(cut_trace)
    assert sorted(expected) == sorted(got) == list(range(max_iters)), 'iterations missing'
    repeated = {it: len(v) for it, v in got.items() if len(v) > 1}
    differ = [it for it in range(max_iters) if any(r != expected[it][0] for r in got[it])]
    # both files are this run's own checkpoints (mmengine's message hub is not a tensor)
    a = torch.load(work / 'ref' / f'iter_{max_iters}.pth', weights_only=False)
    b = torch.load(work / 'cut' / f'iter_{max_iters}.pth', weights_only=False)
    params = [k for k in a['state_dict'] if not torch.equal(a['state_dict'][k],
                                                            b['state_dict'][k])]
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    moments = [k for k in sa for m in sa[k] if torch.is_tensor(sa[k][m])
               and not torch.equal(sa[k][m], sb[k][m])]
    rng = torch.equal(a['random_states']['torch'], b['random_states']['torch'])
    print(f'iterations run more than once: {repeated}')
    print(f'iterations whose batch or loss differ: {differ}')
    print(f'parameters that differ at the end: {len(params)} of {len(a["state_dict"])}; '
          f'optimizer moments that differ: {len(moments)}; torch random state equal: {rng}')
    sys.exit(1 if differ or params or moments or not rng else 0)


if __name__ == '__main__':
    main()
