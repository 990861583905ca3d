"""Reading and training speed from the refer format, image-text files and WebDataset
shards holding the same images (the embedded synthetic default's train split).

python tools/analysis_tools/benchmark_data.py [--data data/synthetic_refer]
    [--read-samples 2000] [--train-iters 12] [--rounds 2] [--threads 1]

One process, no dataloader workers, formats interleaved round by round so that the
ratios hold on a noisy machine. Reading: samples/s through the embedded default's
training pipeline (decode, resize to 128x128, pack; one image decoded per sample).
Training: seconds per iteration of configs/sg_vittiny_synthetic.py (refer) and
configs/sg_vittiny_synthetic_wds.py (shards), data loading included, the first two
iterations left out.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from sgseg.datasets import ImageTextDataset, ReferDataset, WebImageTextDataset  # noqa: E402
from sgseg.datasets.converters import (refer_to_records, write_records,  # noqa: E402
                                       write_shards)
from sgseg.datasets.synthetic import is_current, make_synthetic_refer  # noqa: E402
from sgseg.registry import HOOKS  # noqa: E402
from sgseg.utils import register_all_modules, set_num_threads  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@HOOKS.register_module(force=True)
class _StepTimes(Hook):
    """Wall time between consecutive training iterations (data loading included)."""
    priority = 'LOWEST'

    def __init__(self):
        self.stamps, self.data_times = [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.stamps.append(time.perf_counter())
        self.data_times.append(runner.message_hub.get_scalar('train/data_time').current())


def prepare(data: str, work: str) -> str:
    """Write the train split as an image-text file and as shards; return the shard dir."""
    if not is_current(data):
        print(f'generating the synthetic default in {data} ...')
        make_synthetic_refer(data)
    train_file = osp.join(work, 'train.jsonl')
    write_records(train_file, refer_to_records(data)['train'])
    shards = osp.abspath(osp.join(work, 'shards'))
    write_shards(train_file, shards, data_root=data, shard_size=250)
    return shards


def read_rate(dataset, num: int) -> float:
    """Samples per second over ``num`` samples, after the first one (which fills the
    shards' shuffle buffer: a start-up cost, as building the other datasets is)."""
    if isinstance(dataset, WebImageTextDataset):
        samples = iter(dataset)
    else:
        samples = (dataset[i % len(dataset)] for i in range(num + 1))
    next(samples)
    start = time.perf_counter()
    for _ in range(num):
        next(samples)
    return num / (time.perf_counter() - start)


def train_step_time(config: str, options: dict, work: str, iters: int) -> tuple:
    """Median seconds per training iteration and median seconds of it spent waiting
    for data (mmengine's ``data_time``), the first two iterations left out."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    cfg.merge_from_dict(options)
    cfg.merge_from_dict({
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
        'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters + 1,
        'default_hooks.checkpoint.interval': iters + 1,
        'default_hooks.logger.interval': iters + 1,
        'default_hooks.visualization.draw': False})
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.work_dir = work
    cfg.experiment_name = osp.basename(work)
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])] + [dict(type='_StepTimes')]
    runner = Runner.from_cfg(cfg)
    runner.train()
    timer = next(h for h in runner.hooks if isinstance(h, _StepTimes))
    return (statistics.median(b - a for a, b in zip(timer.stamps[1:], timer.stamps[2:])),
            statistics.median(timer.data_times[2:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/synthetic_refer',
                        help='the synthetic default in refer format (generated if missing)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_data')
    parser.add_argument('--read-samples', type=int, default=2000)
    parser.add_argument('--train-iters', type=int, default=12)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', default='benchmark_data.json')
    args = parser.parse_args()
    set_num_threads(args.threads)
    register_all_modules(init_default_scope=False)
    init_default_scope('sgseg')
    shards = prepare(args.data, args.work_dir)
    train_file = osp.abspath(osp.join(args.work_dir, 'train.jsonl'))
    pipeline = Config.fromfile(osp.join(ROOT, 'configs/sg_vittiny_synthetic.py')).train_pipeline
    datasets = {
        'refer': ReferDataset(data_root=args.data, data_prefix=dict(img_path='images'),
                              pipeline=pipeline),
        'jsonl': ImageTextDataset(ann_file=train_file, data_root=args.data,
                                  pipeline=pipeline),
        'wds': WebImageTextDataset(shards=shards, pipeline=pipeline, max_epochs=None),
    }
    runs = {
        'refer': ('sg_vittiny_synthetic.py', {'train_dataloader.dataset.data_root': args.data}),
        'wds': ('sg_vittiny_synthetic_wds.py', {'train_dataloader.dataset.shards': shards}),
    }
    result = dict(read_samples_per_s={k: [] for k in datasets},
                  train_step_s={k: [] for k in runs}, data_time_s={k: [] for k in runs})
    for r in range(args.rounds):
        for name, dataset in datasets.items():
            result['read_samples_per_s'][name].append(read_rate(dataset, args.read_samples))
        # the order alternates, so that a drift of the machine's load favours neither
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            step, data = train_step_time(*runs[name], osp.join(args.work_dir,
                                                               f'train_{name}_{r}'),
                                         args.train_iters)
            result['train_step_s'][name].append(step)
            result['data_time_s'][name].append(data)
    reads = {k: statistics.median(v) for k, v in result['read_samples_per_s'].items()}
    steps = {k: statistics.median(v) for k, v in result['train_step_s'].items()}
    waits = {k: statistics.median(v) for k, v in result['data_time_s'].items()}
    result['summary'] = dict(read_samples_per_s=reads, train_step_s=steps, data_time_s=waits,
                             wds_over_refer_step=steps['wds'] / steps['refer'])
    print('| format | read (images/s, 1 process) | train step (s) | of which data (s) |')
    print('|---|---|---|---|')
    for name in datasets:
        step = f'{steps[name]:.3f} | {waits[name]:.3f}' if name in steps else '- | -'
        print(f'| {name} | {reads[name]:.0f} | {step} |')
    print(f"wds / refer step time: {result['summary']['wds_over_refer_step']:.3f}")
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
