"""Own val against held-out splits, beside the text-independent baselines.

Reads the JSON files ``eval_schemes.py --out X.md`` writes (``X.json``), one per split,
and prints one row per split: the method's mIoU / cIoU / PointM, its mIoU as a share of
the first split's (own val), and the whole-image and centred-ellipse baselines.

python tools/analysis_tools/split_summary.py val=W/schemes.json \
    heldout_phrasing=W/heldout_phrasing_schemes.json \
    heldout_scenes=W/heldout_scenes_schemes.json --out W/splits.md
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.evaluation.summary import report_table, split_rows  # noqa: E402


def parse_split(item: str) -> tuple:
    """``NAME=FILE`` -> (name, results read from FILE)."""
    name, sep, path = item.partition('=')
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f'expected NAME=FILE, got {item!r}')
    if not osp.isfile(path):
        raise argparse.ArgumentTypeError(f'{name}: no such file {path!r} (write it with '
                                         f'eval_schemes.py --out {osp.splitext(path)[0]}.md)')
    with open(path) as f:
        try:
            return name, json.load(f)
        except json.JSONDecodeError as e:
            raise argparse.ArgumentTypeError(f'{name}: {path} is not JSON ({e})')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('splits', nargs='+', type=parse_split, metavar='NAME=FILE',
                        help='the reference split first (own val)')
    parser.add_argument('--out', help='also write the table (markdown) here')
    args = parser.parse_args(argv)
    results = dict(args.splits)
    rows = split_rows(results, reference=args.splits[0][0])
    report_table(rows, 'own val against the held-out splits (mIoU share of the first)',
                 args.out)
    return rows


if __name__ == '__main__':
    main()
