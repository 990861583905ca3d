"""Draw the training losses of a work dir, or compare groups of runs.

python tools/analysis_tools/plot_curves.py WORK_DIR [--out curve.png]
python tools/analysis_tools/plot_curves.py --group exact work_dirs/r1_s0 work_dirs/r1_s1 \
    --group sampled work_dirs/r0.25_s0 work_dirs/r0.25_s1 --keys loss_recon loss_c3 mIoU \
    --out compare.png
    (each group: the mean over its runs and a band from the lowest to the highest; the
    last value of each key per group, mean ± std over its runs, is printed)
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.evaluation.summary import format_markdown  # noqa: E402
from sgseg.visualization import plot_grouped_curves, plot_loss_curves  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description='Plot training loss curves')
    parser.add_argument('work_dir', nargs='?')
    parser.add_argument('--group', nargs='+', action='append', metavar=('NAME', 'WORK_DIR'),
                        help='a named group of runs to compare (repeat for each group)')
    parser.add_argument('--keys', nargs='+', default=['loss'],
                        help='with --group: the scalars to draw, one panel each')
    parser.add_argument('--out', help='PNG path (default WORK_DIR/loss_curve.png; '
                        'needed with --group)')
    args = parser.parse_args()
    if (args.work_dir is None) == (args.group is None):
        parser.error('give a WORK_DIR or --group NAME WORK_DIR... (not both)')
    try:
        if args.group is None:
            out = args.out or osp.join(args.work_dir, 'loss_curve.png')
            keys = plot_loss_curves(args.work_dir, out)
            print(f'wrote {out} ({", ".join(keys)})')
            return
        if not args.out:
            parser.error('--group needs --out')
        short = [g[0] for g in args.group if len(g) < 2]
        if short:
            parser.error(f'--group {short[0]} names no work dir')
        groups = {g[0]: g[1:] for g in args.group}
        summary = plot_grouped_curves(groups, args.keys, args.out)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'plot_curves: {err}')
    print(f'wrote {args.out}\nlast logged value, mean ± std over the runs of each group')
    print(format_markdown([
        dict(group=name, runs=len(groups[name]),
             **{k: f'{per_key[k][0]:.4g} ± {per_key[k][1]:.2g}' for k in args.keys})
        for name, per_key in summary.items()]), end='')


if __name__ == '__main__':
    main()
