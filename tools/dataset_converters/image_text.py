"""Check and convert image–text files (JSON lines or CSV; docs/dataset_prepare.md).

    # check every row, image and mask; print each bad row with its line number
    python tools/dataset_converters/image_text.py check data/mine/train.csv
    # refer release -> one image-text file per split (<out>/<split>.jsonl or .csv)
    python tools/dataset_converters/image_text.py from-refer data/refcoco \\
        --out data/refcoco_jsonl --img-prefix ../images/mscoco/images/train2014
    # image-text files -> refer release (instances.json + refs(unc).p)
    python tools/dataset_converters/image_text.py to-refer train=data/mine/train.jsonl \\
        val=data/mine/val.jsonl --data-root data/mine --out data/mine_refer
    # image-text file -> WebDataset shards
    python tools/dataset_converters/image_text.py to-wds data/mine/train.jsonl \\
        --data-root data/mine --out data/mine/shards --shard-size 1000
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.datasets.converters import (check_image_text_file, records_to_refer,  # noqa: E402
                                       refer_to_records, write_records, write_shards)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)

    check = sub.add_parser('check', help='check a file, its images and masks (no training)')
    check.add_argument('file', help='the .jsonl or .csv file')
    check.add_argument('--data-root', default=None,
                       help='folder of the relative paths (default: the file\'s folder)')
    check.add_argument('--img-prefix', default='', help="data_prefix['img_path']")
    check.add_argument('--mask-prefix', default='', help="data_prefix['mask_path']")

    from_refer = sub.add_parser('from-refer', help='refer release -> image-text files')
    from_refer.add_argument('data_root', help='folder of the refs pickle and instances.json')
    from_refer.add_argument('--out', required=True, help='output folder')
    from_refer.add_argument('--ann-file', default='refs(unc).p')
    from_refer.add_argument('--instances-file', default='instances.json')
    from_refer.add_argument('--img-prefix', default='images',
                            help='image folder relative to data_root')
    from_refer.add_argument('--text-key', default='sent', choices=['sent', 'raw'])
    from_refer.add_argument('--format', default='jsonl', choices=['jsonl', 'csv'])

    to_refer = sub.add_parser('to-refer', help='image-text files -> refer release')
    to_refer.add_argument('files', nargs='+', metavar='SPLIT=FILE')
    to_refer.add_argument('--data-root', required=True,
                          help='folder of the rows\' relative image and mask paths')
    to_refer.add_argument('--out', required=True, help='output folder')
    to_refer.add_argument('--ann-file', default='refs(unc).p')

    to_wds = sub.add_parser('to-wds', help='image-text file -> WebDataset shards')
    to_wds.add_argument('file')
    to_wds.add_argument('--data-root', default=None,
                        help='folder of the relative image paths (default: the file\'s)')
    to_wds.add_argument('--out', required=True, help='output folder of the shards')
    to_wds.add_argument('--prefix', default='train', help='shard names <prefix>-000000.tar')
    to_wds.add_argument('--shard-size', type=int, default=1000, help='samples per shard')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.command == 'check':
        root = osp.dirname(args.file) if args.data_root is None else args.data_root
        report = check_image_text_file(args.file, root, args.img_prefix, args.mask_prefix)
        print(report.summary())
        return 1 if report.errors else 0
    if args.command == 'from-refer':
        for split, records in refer_to_records(args.data_root, args.ann_file,
                                               args.instances_file, args.img_prefix,
                                               args.text_key).items():
            path = osp.join(args.out, f'{split}.{args.format}')
            print(f'{path}: {write_records(path, records)} lines')
        return 0
    if args.command == 'to-refer':
        files = {}
        for item in args.files:
            split, sep, path = item.partition('=')
            if not sep or not split or not path:
                raise SystemExit(f'to-refer: expected SPLIT=FILE, got {item!r}')
            files[split] = path
        counts = records_to_refer(files, args.data_root, args.out, args.ann_file)
        print(f'{args.out}: ' + ', '.join(f'{v} {k}' for k, v in counts.items()))
        return 0
    root = osp.dirname(args.file) if args.data_root is None else args.data_root
    shards = write_shards(args.file, args.out, root, args.prefix, args.shard_size)
    print(f'{len(shards)} shard(s) in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
