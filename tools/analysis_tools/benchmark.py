"""Speed and memory of SaG beside its own ViT, measured in one run.

python tools/analysis_tools/benchmark.py CONFIG [--batch-size 32] [--repeats 3] [--device cpu|cuda]
    [--recon-sample-ratio 0.25] [--no-embedded-step]   (and the embedded default's step)
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

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from sgseg.apis.benchmark import (EMBEDDED_CONFIG, compare_embedded_step,  # noqa: E402
                                  embedded_step_summary, format_report, run_benchmark,
                                  run_eval_benchmark, run_step_benchmark)
from sgseg.utils import keep_freed_memory, set_num_threads  # noqa: E402


def embedded_step(iters: int) -> dict:
    """The embedded default's training step (``--default-step`` on it), as the
    ``embedded_`` keys; nothing when its synthetic data has not been written."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', EMBEDDED_CONFIG))
    data_root = cfg.train_dataloader.dataset.data_root
    if not osp.isabs(data_root):
        data_root = osp.join(ROOT, data_root)
    if not osp.isdir(data_root):
        print(f"the embedded default's step is not timed: no {data_root} (make demo, or "
              'tools/dataset_converters/make_synthetic_refer.py --out it, writes it)')
        return {}
    cfg.train_dataloader.dataset.data_root = data_root
    return embedded_step_summary(run_step_benchmark(cfg, iters))


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
                        help='timed iterations per pass of the Runner step (after 3 left '
                             'out)')
    parser.add_argument('--no-embedded-step', action='store_true',
                        help="without --default-step or --eval-split, the run also times "
                             "the embedded default's step (configs/" + EMBEDDED_CONFIG +
                             ', about a minute); this leaves it out')
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
        # The embedded default's step first, while the process is small: after the
        # paper-size rows it holds over 20 GB, and the step measured 5 % slower there.
        embedded = ({} if args.no_embedded_step or args.config.endswith(EMBEDDED_CONFIG)
                    else embedded_step(args.step_iters))
        result = run_benchmark(cfg, args.batch_size, args.eval_batch_size, args.repeats,
                               args.device, amp=True if args.amp else None,
                               recon_sample_ratio=args.recon_sample_ratio)
        result.update(embedded)
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
