"""Sentences a user types, on a generated dataset's images: does the mask get the shape?

For each sentence of a fixed list (what one types into the demo: "the leftmost one",
"the biggest red thing", "the square next to the star", ...), every image of a split of a
synthetic dataset where the sentence names exactly one shape, by the generator's own
reading of it, is segmented from its file; a mask with IoU > 0.5 against that shape counts
as the right shape. The shapes and their masks come from drawing the scene again with the
dataset's seed, so the dataset must be of this generator version.

python tools/analysis_tools/typed_sentences.py CONFIG CKPT --data data/synthetic_refer \
    [--split val] [--sentences 'the leftmost one' 'the red one'] [--out typed.md]
"""
import argparse
import json
import os.path as osp
import pickle
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.datasets.synthetic import (GENERATOR_VERSION, Expression, Phrase,  # noqa: E402
                                      identifies, image_rng, render_scene)

#: each sentence with the expression it says (the generator's reading)
TYPED = {
    'the leftmost one': Expression(Phrase(), order='left'),
    'the rightmost one': Expression(Phrase(), order='right'),
    'the biggest one': Expression(Phrase(), order='large'),
    'the smallest one': Expression(Phrase(), order='small'),
    'the biggest red thing': Expression(Phrase(colour='red'), order='large'),
    'the square next to the star': Expression(Phrase(kind='square'), relation='near',
                                              anchor=Phrase(kind='star')),
    'the one on the left': Expression(Phrase(hpos='left')),
    'the red one on the left': Expression(Phrase(colour='red', hpos='left')),
    'the red one': Expression(Phrase(colour='red')),
    'the star': Expression(Phrase(kind='star')),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--data', default='data/synthetic_refer',
                        help='a dataset written by sgseg.datasets.synthetic')
    parser.add_argument('--split', default='val')
    parser.add_argument('--sentences', nargs='+', default=list(TYPED), metavar='TEXT',
                        help='some of: ' + '; '.join(TYPED))
    parser.add_argument('--seed', type=int, default=0, help='slot sampling seed')
    parser.add_argument('--crf', action='store_true',
                        help="DenseCRF on the score maps (the config's dense_crf settings)")
    parser.add_argument('--out', help='also write the table (markdown) here')
    args = parser.parse_args(argv)
    unknown = [s for s in args.sentences if s not in TYPED]
    if unknown:
        parser.error(f'--sentences {unknown}: not in the list this tool can check '
                     f'({"; ".join(TYPED)})')
    return args


def load_scenes(data: str, split: str):
    """(image path, scene) of every image of ``split``, the scenes drawn again."""
    stats_file = osp.join(data, 'stats.json')
    if not osp.isfile(stats_file):
        raise SystemExit(f'{data}: no stats.json (not a dataset of the synthetic generator)')
    with open(stats_file) as f:
        stats = json.load(f)
    if stats.get('generator_version') != GENERATOR_VERSION:
        raise SystemExit(f'{stats_file}: generator {stats.get("generator_version")}, this is '
                         f'{GENERATOR_VERSION}: its scenes cannot be drawn again; regenerate')
    with open(osp.join(data, 'refs(unc).p'), 'rb') as f:
        image_ids = sorted({r['image_id'] for r in pickle.load(f) if r['split'] == split})
    if not image_ids:
        raise SystemExit(f'{data}: no image in split {split!r}')
    with open(osp.join(data, 'instances.json')) as f:
        files = {im['id']: im['file_name'] for im in json.load(f)['images']}
    for image_id in image_ids:
        scene = render_scene(image_rng(stats['seed'], image_id - 1), stats['image_size'],
                             heldout_styles=split == 'heldout_scenes')
        yield osp.join(data, 'images', files[image_id]), scene


def evaluate(inferencer, scenes, sentences):
    """{sentence: IoUs on the images where it names exactly one shape}."""
    ious = {s: [] for s in sentences}
    for path, scene in scenes:
        asked = []
        for sent in sentences:
            targets = [i for i in range(len(scene.shapes))
                       if identifies(TYPED[sent], scene.shapes, i)]
            if targets:
                asked.append((sent, scene.masks[targets[0]].astype(bool)))
        if not asked:
            continue
        image = cv2.imread(path)
        if image is None:
            raise SystemExit(f'{path}: cannot read the image')
        preds = inferencer(image, [sent for sent, _ in asked])
        for (sent, truth), pred in zip(asked, preds):
            union = (pred.mask | truth).sum()
            ious[sent].append(float((pred.mask & truth).sum() / union) if union else 0.0)
    return ious


def table(ious, split):
    lines = [f'| sentence | {split} images where it names one shape | right shape '
             '(IoU > 0.5) | mIoU |', '|---|---|---|---|']
    for sent, values in ious.items():
        if values:
            hits = sum(v > 0.5 for v in values)
            lines.append(f'| {sent} | {len(values)} | {hits} ({100 * hits / len(values):.0f} %)'
                         f' | {100 * np.mean(values):.1f} |')
        else:
            lines.append(f'| {sent} | 0 | - | - |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    from sgseg.apis import RefSegInferencer
    inferencer = RefSegInferencer(args.config, args.checkpoint, seed=args.seed, crf=args.crf)
    ious = evaluate(inferencer, load_scenes(args.data, args.split), args.sentences)
    text = table(ious, args.split)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return ious


if __name__ == '__main__':
    main()
