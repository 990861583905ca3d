"""Draw the training losses of a work dir: python tools/analysis_tools/plot_curves.py WORK_DIR --out curve.png"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.visualization import plot_loss_curves  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description='Plot training loss curves')
    parser.add_argument('work_dir')
    parser.add_argument('--out', help='PNG path (default WORK_DIR/loss_curve.png)')
    args = parser.parse_args()
    out = args.out or osp.join(args.work_dir, 'loss_curve.png')
    try:
        keys = plot_loss_curves(args.work_dir, out)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'plot_curves: {err}')
    print(f'wrote {out} ({", ".join(keys)})')


if __name__ == '__main__':
    main()
