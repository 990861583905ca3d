"""The Python steps of tools/misc/gpu_check.sh.

    python tools/misc/gpu_check_report.py check CONFIG --data-root D --iters N --batch-size B \
        --cfg-options ...        # the config with gpu_check's options is the intended run
    python tools/misc/gpu_check_report.py summary OUT --batch-size B [--device cuda|cpu]
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from sgseg.apis.gpu_check import (check_run_config, format_summary,  # noqa: E402
                                  summarize_gpu_check)
from sgseg.utils import load_tool_config, register_all_modules  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    check = sub.add_parser('check', help='load the config with the options and check it')
    check.add_argument('config')
    check.add_argument('--data-root', required=True)
    check.add_argument('--iters', type=int, required=True)
    check.add_argument('--batch-size', type=int, required=True)
    check.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    summary = sub.add_parser('summary', help='write OUT/summary.json and OUT/summary.md')
    summary.add_argument('out_dir')
    summary.add_argument('--batch-size', type=int, required=True)
    summary.add_argument('--device', default='cuda')
    args = parser.parse_args()
    if args.command == 'check':
        register_all_modules(init_default_scope=False)
        cfg = load_tool_config(args.config, cfg_options=args.cfg_options)
        facts = check_run_config(cfg, args.data_root, args.iters, args.batch_size)
        print(f'{args.config} with the options: ' + json.dumps(facts, indent=2))
    else:
        result = summarize_gpu_check(args.out_dir, args.batch_size, args.device)
        print(format_summary(result))
        print(f"wrote {osp.join(args.out_dir, 'summary.json')} and summary.md")


if __name__ == '__main__':
    main()
