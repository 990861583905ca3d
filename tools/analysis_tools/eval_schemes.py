"""Metrics of every inference scheme (Table 4b) beside trivial baselines, one pass.

A method without inference schemes (any but ShatterAndGather) is scored with its own
inference (row ``own``) beside the baselines.

python tools/analysis_tools/eval_schemes.py CONFIG CHECKPOINT [--out table.md] [--seed S] \
    [--size-bins 0.02 0.04 0.07]
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from sgseg.apis import evaluate_schemes, runner_from_args  # noqa: E402
from sgseg.apis.scheme_evaluation import size_bin_labels  # noqa: E402
from sgseg.evaluation.summary import format_markdown, report_table  # noqa: E402

from sgseg.models.segmentors import ShatterAndGather  # noqa: E402

SCHEME_ORDER = ('fuse', 'max', 'avg', 'min')
BASELINE_ORDER = ('whole_image', 'centre_ellipse')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--seed', type=int, help='slot sampling seed (default from config)')
    parser.add_argument('--out', help='also write the table (markdown) here, and the '
                        'metrics as JSON beside it (same name, .json)')
    parser.add_argument('--size-bins', type=float, nargs='+',
                        help='also score every scheme by target size: bin edges as '
                             'fractions of the image area (e.g. 0.02 0.04 0.07)')
    parser.add_argument('--work-dir')
    parser.add_argument('--threads', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def by_size_rows(results: dict, labels: list, order: tuple) -> list:
    """One row per target-size bin: its sample count and each scheme's mIoU."""
    rows = []
    for label in labels:
        cells = {name: results.get(f'{name} | {label}') for name in order}
        present = {k: v for k, v in cells.items() if v is not None}
        if present:
            n = next(iter(present.values()))['n']
            rows.append(dict(target=label, n=n, **{k: v['mIoU'] for k, v in present.items()}))
    return rows


def main(argv=None):
    args = parse_args(argv)
    runner, cfg = runner_from_args(args, seed=args.seed)  # --out checked first
    has_schemes = isinstance(runner.model, ShatterAndGather)
    if has_schemes:
        # the configured scheme is the pass's own: make it the paper's
        runner.model.test_cfg['inference_scheme'] = 'fuse'
    results = evaluate_schemes(runner.model, runner.test_dataloader,
                               size_bins=args.size_bins)
    keys = ['mIoU', 'cIoU', 'Acc@0.3', 'Acc@0.5', 'Acc@0.7', 'PointM', 'n']
    order = (SCHEME_ORDER if has_schemes else ('own', )) + BASELINE_ORDER
    rows = [dict(prediction=name, **{k: results[name][k] for k in keys}) for name in order]
    title = f'{osp.basename(args.config)} | seed {cfg.model.test_cfg.seed}'
    footer = ''
    if has_schemes:
        grounding = results['fuse']['mIoU'] - results['min']['mIoU']
        title += f' | fuse - min mIoU = {grounding:.2f}'
        footer = f'\nfuse - min mIoU: {grounding:.2f}\n'
    if args.size_bins:
        size_rows = by_size_rows(results, size_bin_labels(args.size_bins), order)
        size_title = 'mIoU by target size (fraction of the image area)'
        report_table(size_rows, size_title)
        footer += f'\n{size_title}\n\n{format_markdown(size_rows)}\n'
    report_table(rows, title, args.out, footer=footer)
    if args.out:
        with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
