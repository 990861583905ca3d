"""mIoU and PointM per sentence family of the synthetic dataset, from tools/test.py --out.

python tools/analysis_tools/results_by_family.py work_dirs/x/val_results.jsonl [--out t.md] \
    [--data data/synthetic_refer]

A sentence's family is the one the generator recorded in the dataset's sentences.json
(--data); a sentence not found there is classified from its words.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.datasets.synthetic import load_families, results_by_family  # noqa: E402
from sgseg.evaluation.summary import report_table  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', help='JSON lines written by tools/test.py --out')
    parser.add_argument('--out', help='also write the table (markdown) here')
    parser.add_argument('--data', default='data/synthetic_refer',
                        help='the synthetic dataset the results are of (its sentences.json '
                             'gives each sentence\'s family); without one, families are '
                             'read from the words')
    args = parser.parse_args()
    with open(args.results) as f:
        results = []
        for number, line in enumerate(f, 1):
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise SystemExit(f'{args.results}:{number}: not JSON ({error})')
    if not results:
        raise SystemExit(f'{args.results} holds no results')
    try:
        families = load_families(args.data)
    except ValueError as error:
        raise SystemExit(str(error))
    rows = results_by_family(results, families)
    seeds = sorted({r['seed'] for r in results if 'seed' in r})
    pooled = f" (seeds {', '.join(map(str, seeds))} pooled; n counts lines)" \
        if len(seeds) > 1 else ''
    report_table(rows, f'{args.results} by sentence family{pooled}', args.out)


if __name__ == '__main__':
    main()
