"""Metrics with several DenseCRF settings from one evaluation pass (appendix D).

Every combination of the values given is evaluated; a parameter not given keeps the
config's ``dense_crf`` value (or DenseCRF's default). Choose settings on a split you do
not report (testA + testB of the synthetic data), then put them in the config's
``dense_crf``:

python tools/analysis_tools/crf_sweep.py CONFIG CHECKPOINT --splits testA testB \
    --bilateral-sxy 5 10 80 --bilateral-srgb 13 30 --bilateral-compat 10 20 \
    --gaussian-compat 1 3 [--seed S] [--out table.md]
"""
import argparse
import copy
import inspect
import itertools
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from sgseg.apis import evaluate_crf_settings, runner_from_args  # noqa: E402
from sgseg.evaluation.summary import report_table  # noqa: E402
from sgseg.postprocess import DenseCRF, crf_settings  # noqa: E402

KEYS = ('mIoU', 'cIoU', 'Acc@0.5', 'PointM', 'n')
# DenseCRF's arguments this tool sweeps: the command-line flag is the name with dashes
PARAMS = ('bilateral_sxy', 'bilateral_srgb', 'bilateral_compat', 'gaussian_sxy',
          'gaussian_compat', 'num_iters')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--splits', nargs='+',
                        help="the dataset's splits, pooled (default: the config's test split)")
    for name in PARAMS:
        kind = int if name == 'num_iters' else float
        parser.add_argument('--' + name.replace('_', '-'), type=kind, nargs='+',
                            metavar='V', help=f"values of DenseCRF's {name}")
    parser.add_argument('--seed', type=int, help='slot sampling seed (default from config)')
    parser.add_argument('--out', help='also write the table (markdown) here')
    parser.add_argument('--work-dir')
    parser.add_argument('--threads', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def grid(base: dict, values: dict) -> list:
    """``base`` with every combination of ``values`` (name -> list) put in."""
    names = [name for name in PARAMS if values.get(name)]
    return [dict(base, **dict(zip(names, combo)))
            for combo in itertools.product(*(values[name] for name in names))]


def main(argv=None):
    args = parse_args(argv)
    runner, cfg = runner_from_args(args, seed=args.seed)  # --out checked first
    base = crf_settings(cfg)
    if base['type'] == 'DenseCRF':  # the table shows every value, defaults included
        defaults = inspect.signature(DenseCRF).parameters
        base = dict({name: defaults[name].default for name in PARAMS}, **base)
    settings = grid(base, {name: getattr(args, name) for name in PARAMS})
    loaders = [runner.test_dataloader]
    if args.splits:
        loaders = []
        for split in args.splits:
            loader_cfg = copy.deepcopy(cfg.test_dataloader)
            loader_cfg.dataset.split = split
            loaders.append(runner.build_dataloader(loader_cfg))
    results = evaluate_crf_settings(runner.model, loaders, settings)
    best = max(range(len(results)), key=lambda i: results[i]['mIoU'])
    rows = [dict(**{name: setting.get(name, '') for name in PARAMS},
                 **{k: metrics[k] for k in KEYS}, best='*' if i == best else '')
            for i, (setting, metrics) in enumerate(zip(settings, results))]
    splits = '+'.join(args.splits) if args.splits else cfg.test_dataloader.dataset.get('split')
    report_table(rows, f'{osp.basename(args.config)} | {splits} | seed '
                 f'{cfg.model.test_cfg.seed} | DenseCRF settings', args.out)
    return settings, results


if __name__ == '__main__':
    main()
