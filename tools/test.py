"""Evaluate a checkpoint: python tools/test.py CONFIG CHECKPOINT [--crf] [--seeds 3] ..."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from sgseg.apis import configure_test, evaluate_seeds  # noqa: E402
from sgseg.evaluation.summary import format_table, summarize_runs  # noqa: E402
from sgseg.utils import (close_distributed, int_at_least, load_tool_config,  # noqa: E402
                         keep_freed_memory, register_all_modules,
                         set_num_threads)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a referring segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='write per-sentence results (JSON lines) here; with '
                        '--seeds N, every seed\'s lines, each with its "seed"')
    parser.add_argument('--show-dir', help='write overlays (prediction + GT) here')
    parser.add_argument('--crf', action='store_true',
                        help="DenseCRF post-processing (the config's dense_crf settings if it "
                        'has them)')
    parser.add_argument('--scheme', choices=['fuse', 'avg', 'max', 'min'],
                        help='inference scheme (Table 4b); default from the config')
    parser.add_argument('--seed', type=int, help='slot sampling seed (default from config)')
    parser.add_argument('--seeds', type=int_at_least(1), default=1,
                        help='evaluate with seeds seed..seed+N-1 and report mean and std')
    parser.add_argument('--threads', type=int, help='torch CPU threads (or SGSEG_THREADS)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main():
    args = parse_args()
    set_num_threads(args.threads)
    keep_freed_memory()  # large tensors reused, not faulted in again every step
    register_all_modules(init_default_scope=False)
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    configure_test(cfg, args.checkpoint, out=args.out, show_dir=args.show_dir,
                   crf=args.crf, scheme=args.scheme, seed=args.seed)
    runner = Runner.from_cfg(cfg)
    base_seed = cfg.model.test_cfg.seed
    runs = evaluate_seeds(runner, [base_seed + k for k in range(args.seeds)], args.out)
    crf = 'on' if cfg.model.test_cfg.get('crf') else 'off'
    # only ShatterAndGather has inference schemes
    scheme = cfg.model.test_cfg.get('inference_scheme',
                                    'fuse' if cfg.model.type == 'ShatterAndGather' else None)
    title = f'{osp.basename(args.config)} | ' + (f'scheme={scheme} | ' if scheme else '') + \
        f'DenseCRF {crf}'
    if args.seeds == 1:
        print_log('\n' + format_table([dict(seed=base_seed, **runs[0])], title), 'current')
    else:
        summary = summarize_runs(runs)
        rows = [dict(seed=base_seed + k, **r) for k, r in enumerate(runs)]
        rows.append(dict(seed='mean', **{k: v['mean'] for k, v in summary.items()}))
        rows.append(dict(seed='std', **{k: v['std'] for k, v in summary.items()}))
        print_log('\n' + format_table(rows, title), 'current')
    close_distributed()


if __name__ == '__main__':
    main()
