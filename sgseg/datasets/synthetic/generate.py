"""Writing the dataset: images, ``instances.json``, ``refs(unc).p``, ``stats.json`` and a
README, and the command line."""
from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .analysis import (SENTENCES_FILE, _statistics, batch_false_negative_rate,
                       expression_to_dict)
from .attributes import GENERATOR_VERSION, HELDOUT_STYLES, KINDS, ShapeInfo
from .expressions import Expression
from .grammar import (_FAMILY_WEIGHTS, _TRAIN_FAMILY_WEIGHTS, FAMILIES, HELDOUT_PHRASINGS,
                      TRAIN_LEFT_OUT, expression_family, refer, write_sentence)
from .render import image_rng, mask_to_polygons, render_scene

# ------------------------------------------------------------------------------- writing


def _raw_form(rng: np.random.Generator, sent: str) -> str:
    """A typed-looking version of a sentence (capitalised, sometimes ending in a period)."""
    raw = sent[0].upper() + sent[1:] if rng.random() < 0.5 else sent
    return raw + '.' if rng.random() < 0.2 else raw


def make_synthetic_refer(out_dir: str | Path, num_train_images: int = 4000,
                         num_val_images: int = 300, num_test_images: int = 150,
                         image_size: int = 128, seed: int = 0, max_refs_per_image: int = 3,
                         max_sents_per_ref: int = 2, min_refs_per_image: int = 1,
                         min_sents_per_ref: int = 1,
                         family_weights: Optional[dict[str, float]] = None,
                         train_family_weights: Optional[dict[str, float]] = None,
                         batch_size: int = 32, num_fn_batches: int = 200,
                         num_heldout_images: Optional[int] = None,
                         num_heldout_scenes_images: int = 300) -> dict[str, Any]:
    """Generates the synthetic referring dataset in the RefCOCO release format.

    Writes ``instances.json`` (COCO; each image entry also holds the ``style`` it was
    drawn with), ``refs(unc).p`` (splits train/val/testA/testB, heldout_phrasing and
    heldout_scenes, no image shared between splits), ``images/synth_<id>.jpg``,
    ``sentences.json`` (each sentence's expression, family and held-out phrasings),
    ``stats.json`` and a short ``README.md``. The same seed and sizes give byte-identical
    annotation files.

    The heldout_phrasing split has images drawn like val's whose sentences each use at
    least one phrasing of :data:`HELDOUT_PHRASINGS`, which no other split uses. The
    heldout_scenes split has sentences drawn like val's over images drawn with at least
    one style of :data:`~.attributes.HELDOUT_STYLES`, which no other split shows.

    Args:
        out_dir: Output folder (created).
        num_train_images: Images of the train split.
        num_val_images: Images of the val split.
        num_test_images: Images of each of testA and testB (same distribution).
        image_size: Side of the square images in pixels.
        seed: Random seed.
        max_refs_per_image: Shapes referred to per image (``min_refs_per_image`` to
            this many, fewer when the image has fewer shapes that can be told apart).
        max_sents_per_ref: Sentences per referred shape (``min_sents_per_ref`` to this
            many, fewer when fewer distinct expressions identify the shape).
        min_refs_per_image: See ``max_refs_per_image``.
        min_sents_per_ref: See ``max_sents_per_ref``.
        family_weights: Sampling weights of the expression families (see :func:`refer`).
            More relational sentences lower the false-negative rate; more attribute
            sentences name the target alone.
        train_family_weights: The weights of the train split. By default the default
            weights without the families of :data:`~.grammar.TRAIN_LEFT_OUT` (relation,
            near, superlative, ordinal, comparative), or ``family_weights`` when that is
            given.
        batch_size: Batch size of the false-negative measurement.
        num_fn_batches: Number of random batches of that measurement.
        num_heldout_images: Images of the heldout_phrasing split (default: as many as
            val).
        num_heldout_scenes_images: Images of the ``heldout_scenes`` split: sentences
            drawn like val's, images drawn with styles that no other split shows
            (:data:`~.attributes.HELDOUT_STYLES`).

    Returns:
        The statistics also written to ``stats.json``.
    """
    out = Path(out_dir)
    (out / 'images').mkdir(parents=True, exist_ok=True)
    if num_heldout_images is None:
        num_heldout_images = num_val_images
    # New splits go last so that the images of the others keep their indices.
    split_of = (['train'] * num_train_images + ['val'] * num_val_images
                + ['testA'] * num_test_images + ['testB'] * num_test_images
                + ['heldout_phrasing'] * num_heldout_images
                + ['heldout_scenes'] * num_heldout_scenes_images)
    train_weights = train_family_weights or family_weights or _TRAIN_FAMILY_WEIGHTS
    images, annotations, refs = [], [], []
    train_scenes: dict[int, list[ShapeInfo]] = {}
    train_samples: list[tuple[int, Expression]] = []
    records: list[dict[str, Any]] = []
    ann_id = sent_id = 0
    for index, split in enumerate(split_of):
        rng = image_rng(seed, index)
        scene = render_scene(rng, image_size, heldout_styles=split == 'heldout_scenes')
        image_id = index + 1
        file_name = f'synth_{image_id:06d}.jpg'
        cv2.imwrite(str(out / 'images' / file_name), scene.image,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({'id': image_id, 'file_name': file_name, 'height': image_size,
                       'width': image_size, 'style': scene.style.to_json()})
        ann_ids = []
        for shape, mask in zip(scene.shapes, scene.masks):
            polygons = mask_to_polygons(mask)
            rle = mask_utils.merge(mask_utils.frPyObjects(polygons, image_size, image_size))
            ann_id += 1
            ann_ids.append(ann_id)
            annotations.append({
                'id': ann_id, 'image_id': image_id,
                'category_id': KINDS.index(shape.kind) + 1, 'segmentation': polygons,
                'area': float(mask_utils.area(rle)),
                'bbox': [round(float(v), 2) for v in mask_utils.toBbox(rle)],
                'iscrowd': 0})
        if split == 'train':
            train_scenes[image_id] = scene.shapes
        order = rng.permutation(len(scene.shapes))
        wanted = int(rng.integers(min_refs_per_image, max_refs_per_image + 1))
        heldout = split == 'heldout_phrasing'
        for target in order:
            if wanted == 0:
                break
            num = int(rng.integers(min_sents_per_ref, max_sents_per_ref + 1))
            # Some expressions have no held-out phrasing: draw a few more to choose from.
            exprs = refer(rng, scene.shapes, int(target), num + 2 * heldout,
                          train_weights if split == 'train' else family_weights)
            written = []
            for expr in exprs:
                for _ in range(4 if heldout else 1):
                    sent, forms = write_sentence(rng, expr, heldout)
                    if forms or not heldout:
                        break
                if (forms or not heldout) and sent not in [s for s, _, _ in written]:
                    written.append((sent, forms, expr))
            if not written:
                continue
            wanted -= 1
            sentences = []
            for sent, forms, expr in written[:num]:
                sent_id += 1
                sentences.append({'sent_id': sent_id, 'sent': sent,
                                  'raw': _raw_form(rng, sent), 'tokens': sent.split()})
                records.append({'sent_id': sent_id, 'image_id': image_id, 'split': split,
                                'sent': sent, 'family': expression_family(expr),
                                'heldout_phrasings': sorted(forms),
                                'expression': expression_to_dict(expr)})
                if split == 'train':
                    train_samples.append((image_id, expr))
            shape = scene.shapes[int(target)]
            refs.append({
                'ref_id': len(refs), 'ann_id': ann_ids[int(target)], 'image_id': image_id,
                'category_id': KINDS.index(shape.kind) + 1, 'split': split,
                'file_name': f'COCO_train2014_{image_id:012d}_{ann_ids[int(target)]}.jpg',
                'sent_ids': [s['sent_id'] for s in sentences], 'sentences': sentences})
    instances = {
        'info': {'description': 'sgseg synthetic referring dataset',
                 'version': GENERATOR_VERSION},
        'images': images, 'annotations': annotations,
        'categories': [{'id': i + 1, 'name': k, 'supercategory': 'shape'}
                       for i, k in enumerate(KINDS)]}
    # One json.dumps call uses the C encoder; json.dump would stream through Python.
    (out / 'instances.json').write_text(json.dumps(instances, separators=(',', ':')))
    with open(out / 'refs(unc).p', 'wb') as f:
        pickle.dump(refs, f, protocol=4)
    fn_rate = batch_false_negative_rate(train_samples, train_scenes,
                                        np.random.default_rng([seed, 1]), batch_size,
                                        num_fn_batches)
    (out / SENTENCES_FILE).write_text(json.dumps(
        {'version': GENERATOR_VERSION, 'sentences': records}, separators=(',', ':')))
    stats = _statistics(refs, images, annotations,
                        {r['sent_id']: r['family'] for r in records}, fn_rate, seed,
                        image_size, batch_size)
    stats['family_weights'] = dict(family_weights or _FAMILY_WEIGHTS)
    stats['train_family_weights'] = dict(train_weights)
    with open(out / 'stats.json', 'w') as f:
        json.dump(stats, f, indent=2)
    _write_readme(out / 'README.md', stats)
    return stats


def _write_readme(path: Path, stats: dict[str, Any]) -> None:
    lines = [
        '# Synthetic referring segmentation dataset',
        '',
        f"Generated by `sgseg.datasets.synthetic` version {stats['generator_version']} "
        f"with seed {stats['seed']}: {stats['num_images']} images of "
        f"{stats['image_size']}x{stats['image_size']} pixels, "
        f"{stats['num_annotations']} shape annotations.",
        '',
        'RefCOCO release layout: `instances.json` (COCO), `refs(unc).p`, `images/`. '
        'testA and testB follow the same distribution. heldout_scenes has sentences like '
        "val's over images drawn with styles no other split shows: "
        + ', '.join(s for styles in HELDOUT_STYLES.values() for s in styles)
        + " (each image's `style` in `instances.json`). Every sentence names exactly one "
        'shape of its image. `sentences.json` records the expression and family of each '
        'sentence.',
        '',
        '| split | images | refs | sentences | distinct sentences | vocabulary | mean words |',
        '|---|---|---|---|---|---|---|',
    ]
    language = stats['language']
    lines += [f"| {s} | {v['images']} | {v['refs']} | {v['sentences']} | "
              + (f"{language[s]['distinct_sentences']} | {language[s]['vocabulary']} | "
                 f"{language[s]['mean_words']} |" if s in language else '- | - | - |')
              for s, v in stats['splits'].items()]
    left_out = [f for f in stats['family_weights']
                if not stats['train_family_weights'].get(f)]
    lines += ['', 'Share of each sentence family per split'
              + (f" (the train split has no {', '.join(left_out)} sentences)" if left_out
                 else '') + ':', '',
              '| split | ' + ' | '.join(FAMILIES) + ' |',
              '|---|' + '---|' * len(FAMILIES)]
    lines += [f'| {s} | ' + ' | '.join(f"{v['family_share'][f]:.1%}" for f in FAMILIES)
              + ' |' for s, v in language.items()]
    lines += ['', 'The heldout_phrasing split has images drawn like val\'s; each of its '
              'sentences uses at least one of these phrasings, which no other split uses '
              '(each concept is written in the other splits in another form):', '',
              '| held-out phrasing | the other splits write |', '|---|---|']
    lines += [f'| {form} | {instead} |' for form, (_, instead) in HELDOUT_PHRASINGS.items()]
    fn = stats['batch_false_negative_rate']
    lines += ['', f"Batch false-negative rate (batch {stats['batch_size']}): "
              f"{fn['any']:.1%} of train sentences also fit another image of the batch "
              f"({fn['unique']:.1%} as an unambiguous reference). See `stats.json`.", '']
    path.write_text('\n'.join(lines))


def is_current(folder: str | Path) -> bool:
    """Whether ``folder`` holds a complete dataset of this generator version with the
    default sentence families (``stats.json`` is written after the annotations)."""
    stats_file = Path(folder) / 'stats.json'
    if not (Path(folder) / 'refs(unc).p').is_file() or not stats_file.is_file():
        return False
    try:
        stats = json.loads(stats_file.read_text())
    except json.JSONDecodeError:
        return False
    return (stats.get('generator_version') == GENERATOR_VERSION
            and stats.get('family_weights') == _FAMILY_WEIGHTS
            and stats.get('train_family_weights') == _TRAIN_FAMILY_WEIGHTS)


def parse_family_weights(items: Sequence[str]) -> dict[str, float]:
    """``['relation=0.2', 'attributes=0.5']`` as ``{'relation': 0.2, ...}``.

    Raises:
        ValueError: naming the item that is not ``FAMILY=WEIGHT`` with a known family
            and a non-negative number, or when every weight is zero.
    """
    weights = {}
    for item in items:
        family, _, value = item.partition('=')
        if family not in _FAMILY_WEIGHTS:
            raise ValueError(f'--family-weights {item!r}: the family must be one of '
                             f'{", ".join(_FAMILY_WEIGHTS)}')
        try:
            weights[family] = float(value)
        except ValueError:
            raise ValueError(f'--family-weights {item!r}: expected FAMILY=WEIGHT with a '
                             'number') from None
        if not weights[family] >= 0:
            raise ValueError(f'--family-weights {item!r}: a weight cannot be negative')
    if not sum(weights.values()) > 0:
        raise ValueError(f'--family-weights {" ".join(items)}: some weight must be > 0')
    return weights


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Command-line entry point; see ``--help``.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        The dataset statistics.
    """
    parser = argparse.ArgumentParser(
        description='Generate the synthetic referring dataset (RefCOCO format by default).')
    parser.add_argument('--out', default='data/synthetic_refer', help='output folder')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=4000, help='train images')
    parser.add_argument('--num-val', type=int, default=300, help='val images')
    parser.add_argument('--num-test', type=int, default=150,
                        help='images of each of testA and testB')
    parser.add_argument('--num-heldout', type=int, default=None,
                        help='images of the heldout_phrasing split (default: as many as '
                             '--num-val)')
    parser.add_argument('--num-heldout-scenes', type=int, default=300,
                        help='images of the heldout_scenes split (held-out styles)')
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--refs-per-image', type=int, nargs=2, default=(1, 3),
                        metavar=('MIN', 'MAX'),
                        help='shapes referred to per image (at most the shapes that '
                             'can be told apart; an image has 3 to 5 shapes)')
    parser.add_argument('--sents-per-ref', type=int, nargs=2, default=(1, 2),
                        metavar=('MIN', 'MAX'), help='sentences per referred shape')
    parser.add_argument('--family-weights', nargs='+', metavar='FAMILY=WEIGHT',
                        help='sampling weights of the sentence families, e.g. '
                             'relation=0.2 attributes=0.5 (default: '
                             + ' '.join(f'{k}={v}' for k, v in _FAMILY_WEIGHTS.items())
                             + '; a family left out is not used)')
    parser.add_argument('--train-family-weights', nargs='+', metavar='FAMILY=WEIGHT',
                        help='the weights of the train split (default: those of '
                             '--family-weights when given, else the default weights '
                             'without ' + ', '.join(TRAIN_LEFT_OUT) + ')')
    parser.add_argument('--format', default='refer', choices=['refer', 'jsonl', 'csv', 'wds'],
                        help='refer: instances.json + refs(unc).p (the default); jsonl/csv: '
                             'one image-text file per split (<split>.jsonl/.csv, masks as '
                             'polygons); wds: the jsonl files and the train split as '
                             'WebDataset shards (shards/train-*.tar)')
    parser.add_argument('--shard-size', type=int, default=250,
                        help='images per shard with --format wds')
    args = parser.parse_args(argv)
    weights = parse_family_weights(args.family_weights) if args.family_weights else None
    train_weights = (parse_family_weights(args.train_family_weights)
                     if args.train_family_weights else None)
    start = time.perf_counter()
    for name, (low, high) in (('--refs-per-image', args.refs_per_image),
                              ('--sents-per-ref', args.sents_per_ref)):
        if not 1 <= low <= high:
            parser.error(f'{name} {low} {high}: need 1 <= MIN <= MAX')
    stats = make_synthetic_refer(args.out, args.num_train, args.num_val, args.num_test,
                                 args.image_size, args.seed,
                                 max_refs_per_image=args.refs_per_image[1],
                                 max_sents_per_ref=args.sents_per_ref[1],
                                 min_refs_per_image=args.refs_per_image[0],
                                 min_sents_per_ref=args.sents_per_ref[0],
                                 family_weights=weights,
                                 train_family_weights=train_weights,
                                 num_heldout_images=args.num_heldout,
                                 num_heldout_scenes_images=args.num_heldout_scenes)
    if args.format != 'refer':
        # Imported here: the refer format needs neither mmengine nor webdataset.
        from sgseg.datasets.converters import rewrite_refer_as
        written = rewrite_refer_as(args.out, args.format, args.shard_size)
        print(f'{args.format}: wrote ' + ', '.join(Path(p).name for p in written))
    fn = stats['batch_false_negative_rate']
    print(f"wrote {stats['num_images']} images, "
          f"{sum(v['sentences'] for v in stats['splits'].values())} sentences to "
          f"{args.out} in {time.perf_counter() - start:.1f}s; batch false-negative rate "
          f"{fn['any']:.1%} (unique {fn['unique']:.1%})")
    return stats

