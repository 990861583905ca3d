"""FLOPs of each part of a model against its ViT (mmengine's counter, 1 multiply-add = 1).

python tools/analysis_tools/get_flops.py CONFIG [--text-length 14] [--out flops.md]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import Config, DictAction  # noqa: E402

from sgseg.apis.flops import component_flops, format_flops  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--text-length', type=int, default=0,
                        help='tokens per sentence (default: a 14-token benchmark sentence)')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='training batch (each image is fused with B sentences)')
    parser.add_argument('--out', help='also write the table (markdown) here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    table = format_flops(component_flops(cfg, args.text_length, args.batch_size))
    print(f'{args.config} (random weights)\n{table}')
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
