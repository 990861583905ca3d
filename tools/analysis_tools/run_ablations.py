"""Train and test paper ablations on the synthetic benchmark, several seeds each.

Each ablation is the diff its config under configs/ablations/ makes to its recipe,
applied to --config (by default the CPU-sized synthetic config); 'baseline' is
--config unchanged. Writes <work-dir>/ablations.md (mean ± std over seeds) and
<work-dir>/ablations.json (every run).

python tools/analysis_tools/run_ablations.py baseline no-interaction iters-1 \
    --seeds 0 1 2 --max-iters 1500 --work-dir work_dirs/ablations --jobs 2 --schemes
python tools/analysis_tools/run_ablations.py --list
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from sgseg.apis import paper_ablations, run_ablations, write_report  # noqa: E402
from sgseg.utils import int_at_least  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('names', nargs='*', help="ablations to run ('baseline' included)")
    parser.add_argument('--list', action='store_true', help='list the ablations and exit')
    parser.add_argument('--config', default='configs/sg_vittiny_synthetic.py',
                        help='the base config every ablation is applied to')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='training and slot sampling seeds')
    parser.add_argument('--max-iters', type=int_at_least(1),
                        help='shorten training to this many iters (a schedule whose warm-up '
                             'does not fit is scaled to it)')
    parser.add_argument('--work-dir', default='work_dirs/ablations')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs at the same time (e.g. 2 one-thread runs on 2 cores)')
    parser.add_argument('--schemes', action='store_true',
                        help='also report the min / max / avg schemes and the trivial '
                             'baselines of every run (Table 4b)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override keys of the base config for every run')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.list or not args.names:
        for name, ablation in paper_ablations().items():
            changes = ', '.join(f'{k}={v!r}' for k, v in ablation['overrides'].items())
            print(f'{name:26s} {changes}')
        return
    results = run_ablations(args.names, args.config, args.work_dir, seeds=args.seeds,
                            max_iters=args.max_iters, cfg_options=args.cfg_options,
                            threads=args.threads, jobs=args.jobs, schemes=args.schemes)
    title = (f'{osp.basename(args.config)}: {args.max_iters or "full"} iterations, '
             f'seeds {" ".join(map(str, args.seeds))}')
    print(write_report(results, osp.join(args.work_dir, 'ablations.md'),
                       osp.join(args.work_dir, 'ablations.json'), title))


if __name__ == '__main__':
    main()
