"""Metrics at several mask thresholds tau from one evaluation pass (Table A3).

python tools/analysis_tools/threshold_sweep.py CONFIG CHECKPOINT \
    --thresholds 0.3 0.4 0.5 0.6 0.7 [--seed S] [--crf] [--out table.md]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from sgseg.apis import evaluate_thresholds, runner_from_args  # noqa: E402
from sgseg.evaluation.summary import report_table  # noqa: E402

KEYS = ('mIoU', 'cIoU', 'Acc@0.3', 'Acc@0.5', 'Acc@0.7', 'PointM', 'n')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--thresholds', type=float, nargs='+',
                        default=[0.3, 0.4, 0.5, 0.6, 0.7], help='values of tau')
    parser.add_argument('--seed', type=int, help='slot sampling seed (default from config)')
    parser.add_argument('--crf', action='store_true', help='DenseCRF before thresholding')
    parser.add_argument('--out', help='also write the table (markdown) here')
    parser.add_argument('--work-dir')
    parser.add_argument('--threads', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    runner, cfg = runner_from_args(args, seed=args.seed, crf=args.crf)  # --out checked first
    results = evaluate_thresholds(runner.model, runner.test_dataloader, args.thresholds)
    rows = [dict(tau=tau, **{k: metrics[k] for k in KEYS}) for tau, metrics in results.items()]
    report_table(rows, f'{osp.basename(args.config)} | seed {cfg.model.test_cfg.seed}',
                 args.out)


if __name__ == '__main__':
    main()
