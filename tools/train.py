"""Train a model: python tools/train.py CONFIG [--work-dir D] [--resume] [--amp] ..."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from sgseg.utils import (close_distributed, load_tool_config, prepare_train_config,  # noqa: E402
                         keep_freed_memory, register_all_modules,
                         set_num_threads)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a referring segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument('--resume', action='store_true',
                        help='resume from the latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help="mixed precision even where the config says no (recipes: "
                             "amp='auto'); fails at start-up on a machine without a GPU")
    parser.add_argument('--threads', type=int, help='torch CPU threads (or SGSEG_THREADS)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_iters=20')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_num_threads(args.threads)
    keep_freed_memory()  # large tensors reused, not faulted in again every step
    register_all_modules(init_default_scope=False)
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    # AMP as the config's `amp` says ('auto': on with CUDA), the global batch split
    # over the processes
    prepare_train_config(cfg, args.launcher, args.amp, args.cfg_options)
    if args.resume:
        cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
