"""Speed and memory of SaG beside its own ViT, measured in one run.

python tools/analysis_tools/benchmark.py CONFIG [--batch-size 32] [--repeats 3] [--device cpu|cuda]
    [--recon-sample-ratio 0.25]
python tools/analysis_tools/benchmark.py CONFIG --eval-split val [--checkpoint CKPT] \
    [--max-images N]   (only the end-to-end evaluation of the split: per sentence
    against per image, and the per-sentence evaluation as it was before grouping)
python tools/analysis_tools/benchmark.py CONFIG --default-step [--step-iters 20]
    (only the whole training step through the Runner, data loading included, per phase)
"""
import argparse
import json
import os.path as osp
import platform
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from sgseg.apis.benchmark import (compare_embedded_step, format_report,  # noqa: E402
                                  run_benchmark, run_eval_benchmark, run_step_benchmark)
from sgseg.utils import keep_freed_memory, set_num_threads  # noqa: E402



def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint', help='loaded by --eval-split only (random weights '
                        'are as fast)')
    parser.add_argument('--eval-split', choices=['val', 'test'],
                        help='only time the end-to-end evaluation of this split of the '
                             "config's data, one sample per sentence against one per image")
    parser.add_argument('--max-images', type=int,
                        help='with --eval-split: the sentences of the first N images only')
    parser.add_argument('--default-step', action='store_true',
                        help="only time the config's training step through the Runner "
                             '(data loading, text feature cache cold and warm, forward, '
                             'backward, optimizer, hooks) at its own batch size, and '
                             'estimate a whole run of its max_iters')
    parser.add_argument('--step-iters', type=int, default=20,
                        help='with --default-step: timed iterations per pass (after 3 '
                             'left out)')
    parser.add_argument('--batch-size', type=int, default=32, help='training batch')
    parser.add_argument('--eval-batch-size', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='cpu, cuda or cuda:N (default: cuda when torch sees a GPU)')
    parser.add_argument('--recon-sample-ratio', type=float, default=0.0625,
                        help='the share of positions of the sampled reconstruction loss '
                             "timed beside the exact one (default 0.0625, the _fast "
                             "recipe's)")
    parser.add_argument('--amp', action='store_true', help='autocast (default on CUDA only)')
    parser.add_argument('--threads', type=int)
    parser.add_argument('--out', default='benchmark.json')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    set_num_threads(args.threads)
    malloc = 'keep' if keep_freed_memory() else 'system'  # see sgseg/utils/malloc.py
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.default_step:
        result = run_step_benchmark(cfg, args.step_iters)
    elif args.eval_split:
        result = run_eval_benchmark(cfg, args.eval_split, args.checkpoint, args.repeats,
                                    args.device, args.max_images)
    else:
        result = run_benchmark(cfg, args.batch_size, args.eval_batch_size, args.repeats,
                               args.device, amp=True if args.amp else None,
                               recon_sample_ratio=args.recon_sample_ratio)
    result.update(config=args.config, device=args.device, malloc=malloc,
                  machine=platform.processor() or platform.machine(), torch=torch.__version__,
                  gpu=torch.cuda.get_device_name(args.device)
                  if args.device.startswith('cuda') else None)
    compare_embedded_step(result, args.config)
    print(format_report(result))
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
