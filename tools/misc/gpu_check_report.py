"""The Python steps of tools/misc/gpu_check.sh.

    python tools/misc/gpu_check_report.py check CONFIG --data-root D --iters N \
        --batch-size B --warmup-iters W [--random-weights] [--plan-file F] --cfg-options ...
    python tools/misc/gpu_check_report.py summary OUT --batch-size B --warmup-iters W \
        [--device cuda|cpu]

``check`` prints the options that give random weights to the encoders it cannot load,
one ``cfg-option: KEY=VALUE`` line each, on stdout, and what the run will be on stderr.
"""
import argparse
import contextlib
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from sgseg.apis.gpu_check import (check_run_config, encoder_options,  # noqa: E402
                                  format_summary, summarize_gpu_check)
from sgseg.utils import load_tool_config, register_all_modules  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    check = sub.add_parser('check', help='load the config with the options and check it')
    check.add_argument('config')
    check.add_argument('--data-root', required=True)
    check.add_argument('--iters', type=int, required=True)
    check.add_argument('--batch-size', type=int, required=True)
    check.add_argument('--warmup-iters', type=int, required=True)
    check.add_argument('--random-weights', action='store_true')
    check.add_argument('--plan-file', help='also write what the run will be here (JSON)')
    check.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    summary = sub.add_parser('summary', help='write OUT/summary.json and OUT/summary.md')
    summary.add_argument('out_dir')
    summary.add_argument('--batch-size', type=int, required=True)
    summary.add_argument('--warmup-iters', type=int, default=0)
    summary.add_argument('--device', default='cuda')
    args = parser.parse_args()
    if args.command == 'check':
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the options only
            register_all_modules(init_default_scope=False)
            cfg = load_tool_config(args.config, cfg_options=args.cfg_options)
            options = encoder_options(cfg, args.random_weights)
            cfg.merge_from_dict(options)
            plan = check_run_config(cfg, args.data_root, args.iters, args.batch_size,
                                    args.warmup_iters)
            plan['random_weight_options'] = [f'{k}={v}' for k, v in options.items()]
            print(f'{args.config} with the options: ' + json.dumps(plan, indent=2))
            if args.plan_file:
                with open(args.plan_file, 'w') as f:
                    json.dump(plan, f, indent=2)
        for option in plan['random_weight_options']:
            print(f'cfg-option: {option}')
    else:
        result = summarize_gpu_check(args.out_dir, args.batch_size, args.warmup_iters,
                                     args.device)
        print(format_summary(result))
        print(f"wrote {osp.join(args.out_dir, 'summary.json')} and summary.md")

if __name__ == '__main__':
    main()
