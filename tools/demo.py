"""Segment sentences on an image and draw the result.

    python tools/demo.py IMAGE "the man on the left" ["another sentence" ...] \
        --checkpoint CKPT [--config C] [--out out.png] [--crf] [--topk 3] [--device cpu]

One PNG, one row per sentence: the predicted mask over the image, titled with the
sentence, and with ``--topk K`` the K entities the sentence weighs most (paper Fig. 5),
each titled with its A^fuse weight (ShatterAndGather); for another method, with
``--topk`` > 0, its patch maps (MaskCLIP: the patch-text similarity).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcv  # noqa: E402

from sgseg.apis import RefSegInferencer, check_out_file  # noqa: E402
from sgseg.utils import int_at_least, set_num_threads  # noqa: E402
from sgseg.visualization import draw_prediction, patch_maps, stack_rows  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Referring segmentation of one image')
    parser.add_argument('image', help='image file')
    parser.add_argument('texts', nargs='+', metavar='sentence', help='referring sentences')
    parser.add_argument('--config', default='configs/sg_vittiny_synthetic.py',
                        help='model config (default: %(default)s)')
    parser.add_argument('--checkpoint', required=True, help='checkpoint file')
    parser.add_argument('--out', default='demo.png',
                        help='output image, .png or .jpg (default: %(default)s)')
    parser.add_argument('--crf', action='store_true', help='DenseCRF post-processing')
    parser.add_argument('--topk', type=int_at_least(0), default=3,
                        help='entity maps drawn per sentence, 0 for none, at most the '
                             "model's number of entities K; a model without entities "
                             'draws its patch maps unless 0 (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='slot sampling seed')
    parser.add_argument('--device', default='cpu', help='torch device (default: %(default)s)')
    parser.add_argument('--threads', type=int, help='torch CPU threads (or SGSEG_THREADS)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_num_threads(args.threads)
    # before the model is loaded: a bad --out must not cost an inference
    check_out_file(args.out, '--out', image=True)
    inferencer = RefSegInferencer(args.config, args.checkpoint, device=args.device,
                                  crf=args.crf, seed=args.seed)
    image = inferencer.load_image(args.image)
    predictions = inferencer(image, args.texts)
    entities = 'attn_fuse' in predictions[0].maps
    topk = args.topk
    if entities:
        num_entities = predictions[0].attn_fuse.shape[0]
        topk = min(args.topk, num_entities)
        if topk < args.topk:
            print(f'--topk {args.topk}: the model has {num_entities} entities; drawing all '
                  f'{num_entities}')
    rgb = mmcv.bgr2rgb(image)
    rows = []
    for pred in predictions:
        line = f'{pred.text!r}: {pred.mask.mean():.1%} of the image'
        if entities:
            order = pred.attn_fuse.argsort()[::-1][:topk]
            weights = ', '.join(f'slot {k}: {pred.attn_fuse[k]:.3f}' for k in order)
            print(line + (f'; top entities {weights}' if topk else ''))
            panels = dict(attn_slot=pred.attn_slot, attn_fuse=pred.attn_fuse)
        else:
            print(line)
            panels = dict(maps=patch_maps(pred.maps, pred.grid_size))
        rows.append(draw_prediction(rgb, pred.mask, pred.text, grid_size=pred.grid_size,
                                    topk=topk, **panels))
    mmcv.imwrite(mmcv.rgb2bgr(stack_rows(rows)), args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
