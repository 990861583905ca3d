"""Train and test compared methods (paper Table 1) over seeds, one table.

Each config (a method's, e.g. configs/sg_vittiny_synthetic.py and
configs/maskclip_vittiny_synthetic.py) is trained with tools/train.py and evaluated
with tools/analysis_tools/eval_schemes.py (its own inference, and the whole-image and
centred-ellipse baselines on the same samples), for every seed. Writes
<work-dir>/methods.md (mIoU / cIoU / PointM, mean ± std over seeds) and
<work-dir>/methods.json (every run); a finished run of the same config is reused.

python tools/analysis_tools/run_methods.py configs/sg_vittiny_synthetic.py \
    configs/maskclip_vittiny_synthetic.py --seeds 0 1 2 --work-dir work_dirs/methods --jobs 2 \
    --extra-splits heldout_phrasing heldout_scenes
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from sgseg.apis.methods import run_methods, write_methods_report  # noqa: E402
from sgseg.utils import int_at_least  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='+', help='method configs')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='training (and test-time sampling) seeds')
    parser.add_argument('--max-iters', type=int_at_least(1),
                        help='shorten every training to this many iterations')
    parser.add_argument('--work-dir', default='work_dirs/methods')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run')
    parser.add_argument('--jobs', type=int, default=1, help='runs at the same time')
    parser.add_argument('--extra-splits', nargs='+', default=[],
                        help='other splits of the test dataset to evaluate every checkpoint '
                             'on too (e.g. heldout_phrasing heldout_scenes of the synthetic '
                             'data)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override keys of every config (e.g. the data root)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for config in args.configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file {config!r} does not exist')
    results = run_methods(args.configs, args.work_dir, seeds=args.seeds,
                          max_iters=args.max_iters, cfg_options=args.cfg_options,
                          threads=args.threads, jobs=args.jobs,
                          extra_splits=args.extra_splits)
    title = (f'{args.max_iters or "full"} iterations, seeds '
             f'{" ".join(map(str, args.seeds))}')
    print(write_methods_report(results, osp.join(args.work_dir, 'methods.md'),
                               osp.join(args.work_dir, 'methods.json'), title))


if __name__ == '__main__':
    main()
