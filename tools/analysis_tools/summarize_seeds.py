"""Mean and std over seeds of eval_schemes.py results.

python tools/analysis_tools/summarize_seeds.py work_dirs/seed*/schemes.json [--out summary.md]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.evaluation.summary import format_markdown, load_runs, summarize_runs  # noqa: E402

KEYS = ('mIoU', 'cIoU', 'Acc@0.3', 'Acc@0.5', 'Acc@0.7', 'PointM')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', nargs='+', help='schemes.json files, one per seed')
    parser.add_argument('--out', help='write the markdown table here too')
    args = parser.parse_args()
    try:
        runs = load_runs(args.results)
    except (OSError, ValueError) as err:
        raise SystemExit(f'summarize_seeds: {err}')
    rows = []
    for name in runs[0]:
        summary = summarize_runs([r[name] for r in runs])
        rows.append(dict(prediction=name, **{
            k: f"{summary[k]['mean']:.2f} ± {summary[k]['std']:.2f}" for k in KEYS}))
    per_seed = [dict(run=osp.dirname(p) or p, **{k: r['fuse'][k] for k in KEYS})
                for p, r in zip(args.results, runs)]
    grounding = summarize_runs([{'g': r['fuse']['mIoU'] - r['min']['mIoU']} for r in runs])['g']
    text = (f'Mean ± std over {len(runs)} runs\n\n' + format_markdown(rows) +
            f"\nfuse - min mIoU: {grounding['mean']:.2f} ± {grounding['std']:.2f}\n\n"
            'Per run (fuse)\n\n' + format_markdown(per_seed))
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
