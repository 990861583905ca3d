import json
import pickle
import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sgseg.datasets import synthetic
from sgseg.datasets.synthetic import (COLOURS, FAMILIES, HELDOUT_PATTERNS, KINDS, Expression,
                                      Phrase, ShapeInfo, batch_false_negative_rate,
                                      expression_family, expression_from_dict, identifies,
                                      image_rng, mask_to_polygons, matching_shapes,
                                      render_scene, write_sentence)

SEED = 3
SIZE = 96
COUNTS = dict(num_train_images=6, num_val_images=2, num_test_images=2,
              num_heldout_scenes_images=2)  # 16 images with as many held-out phrasing
# images as val


def generate(out_dir, seed=SEED):
    return synthetic.make_synthetic_refer(out_dir, image_size=SIZE, seed=seed,
                                          num_fn_batches=5, **COUNTS)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_refer')
    stats = generate(root)
    with open(root / 'instances.json') as f:
        instances = json.load(f)
    with open(root / 'refs(unc).p', 'rb') as f:
        refs = pickle.load(f)
    sentences = {r['sent_id']: r
                 for r in json.loads((root / 'sentences.json').read_text())['sentences']}
    # The generator's own scenes (shapes and visible masks), re-rendered from the seed.
    heldout = {r['image_id'] for r in refs if r['split'] == 'heldout_scenes'}
    scenes = {img['id']: render_scene(image_rng(SEED, img['id'] - 1), SIZE,
                                      heldout_styles=img['id'] in heldout)
              for img in instances['images']}
    return dict(root=root, stats=stats, instances=instances, refs=refs, scenes=scenes,
                sentences=sentences)


def shape_index(instances, ann_id):
    """Index of an annotation among its image's annotations (= drawing order)."""
    ann = next(a for a in instances['annotations'] if a['id'] == ann_id)
    same_image = [a['id'] for a in instances['annotations']
                  if a['image_id'] == ann['image_id']]
    return same_image.index(ann_id)


def decode(ann, height, width):
    return mask_utils.decode(
        mask_utils.merge(mask_utils.frPyObjects(ann['segmentation'], height, width)))


def test_files_in_refer_format(dataset):
    root, instances, refs = dataset['root'], dataset['instances'], dataset['refs']
    assert {'images', 'annotations', 'categories'} <= set(instances)
    assert [c['name'] for c in instances['categories']] == list(KINDS)
    assert len(instances['images']) == 16
    images = {img['id']: img for img in instances['images']}
    anns = {a['id']: a for a in instances['annotations']}
    for img in instances['images']:
        pixels = cv2.imread(str(root / 'images' / img['file_name']))
        assert pixels.shape == (img['height'], img['width'], 3) == (SIZE, SIZE, 3)
    for ann in instances['annotations']:
        assert set(ann) >= {'id', 'image_id', 'category_id', 'segmentation', 'area', 'bbox',
                            'iscrowd'}
        assert ann['image_id'] in images and ann['iscrowd'] == 0
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann['segmentation'])
    assert refs
    for ref in refs:
        assert set(ref) >= {'ref_id', 'ann_id', 'image_id', 'category_id', 'split',
                            'file_name', 'sent_ids', 'sentences'}
        assert ref['ann_id'] in anns
        assert anns[ref['ann_id']]['image_id'] == ref['image_id']
        assert anns[ref['ann_id']]['category_id'] == ref['category_id']
        # A ref's file name is not an image file name, as in RefCOCO.
        assert ref['file_name'] == (
            f"COCO_train2014_{ref['image_id']:012d}_{ref['ann_id']}.jpg")
        assert 1 <= len(ref['sentences']) <= 2
        assert ref['sent_ids'] == [s['sent_id'] for s in ref['sentences']]
        for sent in ref['sentences']:
            assert sent['tokens'] == sent['sent'].split()
            assert re.fullmatch(r'[a-z -]+', sent['sent'])
            assert sent['raw'].lower().rstrip('.') == sent['sent']
    sent_ids = [i for r in refs for i in r['sent_ids']]
    assert len(set(sent_ids)) == len(sent_ids)
    per_image = {}
    for ref in refs:
        per_image.setdefault(ref['image_id'], []).append(ref)
    assert all(1 <= len(v) <= 3 for v in per_image.values())
    assert (root / 'README.md').read_text().startswith('# Synthetic')
    assert json.loads((root / 'stats.json').read_text()) == dataset['stats']


def test_splits_disjoint_by_image(dataset):
    split_images = {}
    for ref in dataset['refs']:
        split_images.setdefault(ref['split'], set()).add(ref['image_id'])
    assert set(split_images) == {'train', 'val', 'testA', 'testB', 'heldout_phrasing',
                                 'heldout_scenes'}
    splits = list(split_images.values())
    for i, a in enumerate(splits):
        for b in splits[i + 1:]:
            assert not a & b
    counts = dataset['stats']['splits']
    assert counts['train']['images'] == len(split_images['train']) == 6
    assert counts['testB']['images'] == len(split_images['testB']) == 2
    assert counts['heldout_phrasing']['images'] == len(split_images['heldout_phrasing']) == 2


def test_every_sentence_identifies_its_target(dataset):
    instances, scenes, records = dataset['instances'], dataset['scenes'], dataset['sentences']
    assert set(records) == {s['sent_id'] for r in dataset['refs'] for s in r['sentences']}
    for ref in dataset['refs']:
        shapes = scenes[ref['image_id']].shapes
        target = shape_index(instances, ref['ann_id'])
        assert KINDS[ref['category_id'] - 1] == shapes[target].kind
        for sent in ref['sentences']:
            record = records[sent['sent_id']]
            assert record['sent'] == sent['sent'] and record['split'] == ref['split']
            expr = expression_from_dict(record['expression'])
            assert matching_shapes(expr, shapes) == [target], sent['sent']
            assert identifies(expr, shapes, target), sent['sent']
            assert record['family'] == expression_family(expr)


def test_masks_match_rendered_shapes(dataset):
    root, instances, scenes = dataset['root'], dataset['instances'], dataset['scenes']
    images = {img['id']: img for img in instances['images']}
    for img_id, img in images.items():
        anns = [a for a in instances['annotations'] if a['image_id'] == img_id]
        scene = scenes[img_id]
        assert len(anns) == len(scene.shapes) >= 3
        pixels = cv2.imread(str(root / 'images' / img['file_name'])).astype(np.float32)
        for ann, shape, visible, fill in zip(anns, scene.shapes, scene.masks,
                                             scene.style.fills):
            mask = decode(ann, img['height'], img['width'])
            assert mask.any()
            iou = (mask & visible).sum() / (mask | visible).sum()
            assert iou > 0.8
            assert ann['area'] == pytest.approx(mask.sum())
            # The shape's extent is that of its visible mask.
            ys, xs = np.nonzero(visible)
            assert shape.area == pytest.approx(visible.mean(), abs=1e-5)
            assert shape.bbox == pytest.approx((xs.min() / SIZE, ys.min() / SIZE,
                                                (xs.max() + 1) / SIZE, (ys.max() + 1) / SIZE),
                                               abs=1e-4)
            if shape.texture == 'solid' and fill != 'outlined':
                # The saved image shows the shape's colour inside its mask (BGR on disk);
                # a shaded fill varies by at most 18% about it.
                core = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
                if core.sum() >= 10:
                    median = np.median(pixels[core], axis=0)[::-1]
                    assert np.abs(median - COLOURS[shape.colour]).max() < 40


def test_deterministic(tmp_path, dataset):
    generate(tmp_path / 'again')
    generate(tmp_path / 'other', seed=SEED + 1)
    for name in ('instances.json', 'refs(unc).p', 'sentences.json'):
        same = (tmp_path / 'again' / name).read_bytes()
        assert same == (dataset['root'] / name).read_bytes()
        assert same != (tmp_path / 'other' / name).read_bytes()
    image = 'images/synth_000001.jpg'
    assert (tmp_path / 'again' / image).read_bytes() == (dataset['root'] / image).read_bytes()


def test_every_expression_of_many_scenes_is_unique_and_every_family_occurs():
    rng = np.random.default_rng(0)
    families, relations, orders = set(), set(), set()
    for index in range(300):
        shapes = render_scene(image_rng(0, index), 64).shapes
        for target in range(len(shapes)):
            for expr in synthetic.refer(rng, shapes, target, 2):
                assert matching_shapes(expr, shapes, slack=-1.0) == [target]
                assert matching_shapes(expr, shapes, slack=1.0) == [target], expr
                families.add(expression_family(expr))
                relations.add(expr.relation)
                orders.add((expr.order, expr.rank, expr.of_two))
    assert families == set(FAMILIES)
    assert relations == {None, 'left', 'right', 'above', 'below', 'near'}
    for order in synthetic.ORDERS:
        assert {(order, 1, False), (order, 2, False), (order, 1, True)} <= orders, order


def test_heldout_phrasings_only_in_their_split(dataset):
    heldout = 'heldout_phrasing'
    assert dataset['stats']['splits'][heldout]['sentences'] > 0
    for record in dataset['sentences'].values():
        found = {form for form, p in HELDOUT_PATTERNS.items() if p.search(record['sent'])}
        assert found == set(record['heldout_phrasings']), record
        assert bool(found) == (record['split'] == heldout), record
    # Many more sentences of the same expressions: the other splits' wording never uses
    # a held-out form, the held-out wording names the ones it uses.
    rng = np.random.default_rng(5)
    used = set()
    for index in range(60):
        shapes = render_scene(image_rng(2, index), 64).shapes
        for target in range(len(shapes)):
            for expr in synthetic.refer(rng, shapes, target, 2):
                for _ in range(3):
                    sent, forms = write_sentence(rng, expr)
                    assert not forms and not any(p.search(sent)
                                                 for p in HELDOUT_PATTERNS.values()), sent
                    sent, forms = write_sentence(rng, expr, heldout=True)
                    assert forms == {f for f, p in HELDOUT_PATTERNS.items() if p.search(sent)}
                    used |= forms
    assert used == set(HELDOUT_PATTERNS)


def scene(*specs):
    """Hand-built shapes: (kind, colour, size, x, y, area)."""
    return [ShapeInfo(k, c, s, 'solid', x, y, area) for k, c, s, x, y, area in specs]


def test_superlatives_and_ordinals_need_a_clear_margin():
    shapes = scene(('star', 'red', 'small', 0.15, 0.5, 0.02),
                   ('star', 'blue', 'small', 0.40, 0.2, 0.02),
                   ('circle', 'green', 'large', 0.70, 0.8, 0.10),
                   ('star', 'pink', 'large', 0.90, 0.5, 0.06))
    leftmost = Expression(Phrase(), order='left')
    assert identifies(leftmost, shapes, 0)
    assert identifies(Expression(Phrase(kind='star'), order='right'), shapes, 3)
    assert identifies(Expression(Phrase(), order='right', rank=2), shapes, 2)
    assert identifies(Expression(Phrase(), order='top'), shapes, 1)
    assert identifies(Expression(Phrase(), order='bottom'), shapes, 2)
    assert identifies(Expression(Phrase(), order='large'), shapes, 2)
    assert identifies(Expression(Phrase(kind='star'), order='large'), shapes, 3)
    # the two small stars have the same area: neither is clearly the smallest
    assert not identifies(Expression(Phrase(), order='small'), shapes, 0)
    assert not identifies(Expression(Phrase(), order='small'), shapes, 1)
    # 0.06 apart is less than the margin: no shape is clearly the leftmost
    close = [replace(shapes[0], x=0.34)] + shapes[1:]
    assert matching_shapes(leftmost, close) == [0]
    assert matching_shapes(leftmost, close, slack=1.0) == [0, 1]
    assert not any(identifies(leftmost, close, i) for i in range(4))
    # a large shape whose box reaches as far left is not clearly behind either
    boxed = [replace(shapes[0], bbox=(0.10, 0.45, 0.2, 0.55)),
             replace(shapes[1], x=0.26, bbox=(0.10, 0.05, 0.42, 0.35))] + shapes[2:]
    assert not identifies(leftmost, boxed, 0)
    assert identifies(leftmost, [boxed[0], replace(boxed[1], bbox=(0.16, 0.05, 0.36, 0.35))]
                      + shapes[2:], 0)
    with pytest.raises(ValueError, match='area'):
        matching_shapes(Expression(Phrase(), order='large'),
                        [ShapeInfo('star', 'red', 'small', 'solid', 0.5, 0.5)])


def test_comparatives_need_exactly_two():
    shapes = scene(('star', 'red', 'small', 0.2, 0.3, 0.02),
                   ('star', 'blue', 'large', 0.6, 0.7, 0.07),
                   ('circle', 'green', 'large', 0.8, 0.2, 0.09))
    bigger_star = Expression(Phrase(kind='star'), order='large', of_two=True)
    assert identifies(bigger_star, shapes, 1)
    assert identifies(Expression(Phrase(kind='star'), order='top', of_two=True), shapes, 0)
    assert not identifies(Expression(Phrase(), order='large', of_two=True), shapes, 2)
    three = shapes + [ShapeInfo('star', 'pink', 'small', 'solid', 0.5, 0.1, 0.01)]
    assert matching_shapes(bigger_star, three) == []


def test_nearness_needs_a_clear_winner():
    anchor = ('star', 'orange', 'small', 0.5, 0.5, 0.02)
    shapes = scene(anchor, ('circle', 'red', 'small', 0.6, 0.5, 0.02),
                   ('square', 'blue', 'small', 0.9, 0.9, 0.02),
                   ('heart', 'pink', 'small', 0.1, 0.2, 0.02))
    next_to = Expression(Phrase(), 'near', Phrase(kind='star', colour='orange'))
    assert identifies(next_to, shapes, 1)
    assert matching_shapes(Expression(Phrase(kind='square'), 'near', next_to.anchor),
                           shapes) == [2]
    # a second shape about as close: no clear winner
    crowded = shapes + scene(('cross', 'white', 'small', 0.5, 0.62, 0.02))
    assert matching_shapes(next_to, crowded, slack=1.0) == [1, 4]
    assert not identifies(next_to, crowded, 1)
    # the anchor must be named by exactly one shape
    assert not identifies(next_to, shapes + scene(anchor), 1)


def test_position_and_relation_readings():
    left = ShapeInfo('star', 'red', 'small', 'solid', 0.2, 0.5)
    right = ShapeInfo('circle', 'blue', 'large', 'striped', 0.8, 0.55)
    shapes = [left, right]
    assert matching_shapes(Expression(Phrase(colour='red', hpos='left')), shapes) == [0]
    assert matching_shapes(Expression(Phrase(colour='red', hpos='right')), shapes) == []
    assert matching_shapes(Expression(Phrase(vpos='middle', hpos='middle')), shapes) == []
    rel = Expression(Phrase(kind='star'), 'left', Phrase(kind='circle'))
    assert matching_shapes(rel, shapes) == [0]
    assert matching_shapes(Expression(Phrase(), 'right', Phrase(kind='star')), shapes) == [1]
    assert matching_shapes(Expression(Phrase(), 'above', Phrase(kind='star')), shapes) == []
    # Diagonal neighbours: the dominant direction decides, and only the plain reading
    # accepts a direction 40 degrees off.
    upper = ShapeInfo('star', 'red', 'small', 'solid', 0.2, 0.2)
    lower = ShapeInfo('heart', 'pink', 'small', 'solid', 0.5, 0.45)
    assert synthetic.relation_holds('left', upper, lower)
    assert not synthetic.relation_holds('left', upper, lower, slack=-1.0)
    assert not synthetic.relation_holds('above', upper, lower)
    assert synthetic.relation_holds('above', upper, lower, slack=1.0)
    # A shape on the edge of a band is neither clearly in it nor clearly out of it.
    edge = ShapeInfo('star', 'red', 'small', 'solid', 1 / 3 - 0.01, 0.5)
    expr = Expression(Phrase(kind='star', hpos='left'))
    assert not synthetic.identifies(expr, [edge], 0)
    assert synthetic.identifies(expr, [left], 0)


def test_mask_to_polygons_keeps_holes():
    mask = np.zeros((64, 64), np.uint8)
    cv2.circle(mask, (30, 32), 20, 1, -1)
    cv2.circle(mask, (30, 32), 10, 0, -1)
    cv2.rectangle(mask, (55, 5), (60, 12), 1, -1)  # a second, separate component
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 2
    decoded = decode({'segmentation': polygons}, 64, 64)
    assert decoded[32, 30] == 0  # the hole stays empty
    assert (decoded & mask).sum() / (decoded | mask).sum() > 0.95


def test_batch_false_negative_rate():
    red_star = ShapeInfo('star', 'red', 'small', 'solid', 0.5, 0.5)
    rng = np.random.default_rng(0)
    # Every image has a red star: "the red star" fits every other image of any batch.
    scenes = {i: [red_star] for i in range(8)}
    samples = [(i, 'the red star') for i in range(8)]
    rate = batch_false_negative_rate(samples, scenes, rng, batch_size=4, num_batches=20)
    assert rate == {'any': 1.0, 'unique': 1.0}
    # One colour per image: a sentence naming the colour fits no other image.
    colours = list(COLOURS)
    scenes = {i: [replace(red_star, colour=colours[i])] for i in range(8)}
    samples = [(i, f'the {colours[i]} star') for i in range(8)]
    rate = batch_false_negative_rate(samples, scenes, rng, batch_size=4, num_batches=20)
    assert rate == {'any': 0.0, 'unique': 0.0}
    # Two stars in every image: the sentence fits, but not as an unambiguous reference.
    scenes = {i: [red_star, red_star] for i in range(8)}
    samples = [(i, 'the red star') for i in range(8)]
    rate = batch_false_negative_rate(samples, scenes, rng, batch_size=4, num_batches=20)
    assert rate == {'any': 1.0, 'unique': 0.0}


def test_family_weights_select_sentence_kinds():
    rng = np.random.default_rng(1)
    relations = positions = 0
    for index in range(10):
        shapes = render_scene(image_rng(1, index), 64).shapes
        for target in range(len(shapes)):
            for expr in synthetic.refer(rng, shapes, target, 2, {'relation': 1.0}):
                assert expr.relation is not None
                relations += 1
            for expr in synthetic.refer(rng, shapes, target, 2, {'position': 1.0}):
                assert expr.relation is None and expr.target.num_attributes() >= 2
                assert (expr.target.hpos, expr.target.vpos) != (None, None)
                positions += 1
    assert relations > 10 and positions > 10


def test_family_weights_from_the_command_line(tmp_path):
    assert synthetic.parse_family_weights(['relation=0.3', 'attributes=1']) == {
        'relation': 0.3, 'attributes': 1.0}
    for bad, words in ((['colour=1'], 'must be one of'), (['relation'], 'FAMILY=WEIGHT'),
                       (['relation=-1'], 'negative'), (['short=0'], 'must be > 0')):
        with pytest.raises(ValueError, match=words):
            synthetic.parse_family_weights(bad)
    stats = synthetic.main(['--out', str(tmp_path), '--num-train', '4', '--num-val', '2',
                            '--num-test', '1', '--num-heldout-scenes', '1',
                            '--image-size', '64',
                            '--family-weights', 'attributes=1'])
    assert stats['family_weights'] == {'attributes': 1.0}
    assert set(k for k, v in stats['sentence_families'].items() if v) == {'attributes'}


def test_results_by_family():
    rows = [dict(text='the small red star left of the blue circle', iou=0.2, pointm_hit=False),
            dict(text='The big striped green square on the left.', iou=0.6, pointm_hit=True),
            dict(text='the blue circle above the red star', iou=0.4, pointm_hit=True)]
    table = {r['family']: r for r in synthetic.results_by_family(rows)}
    assert list(table) == ['position', 'relation', 'all']
    assert table['relation']['n'] == 2 and table['relation']['mIoU'] == pytest.approx(30)
    assert table['relation']['PointM'] == pytest.approx(50)
    assert table['position']['mIoU'] == pytest.approx(60)
    assert table['all']['n'] == 3 and table['all']['mIoU'] == pytest.approx(40)
    with pytest.raises(KeyError, match='row 0'):
        synthetic.results_by_family([dict(text='the red star')])
    # A dataset's own record of each sentence's family comes first.
    families = {'the small red star left of the blue circle': 'near'}
    table = {r['family']: r for r in synthetic.results_by_family(rows, families)}
    assert table['near']['n'] == 1 and table['relation']['n'] == 1


@pytest.mark.parametrize('sentence,family', [
    ('The leftmost one.', 'superlative'), ('the tiniest item', 'superlative'),
    ('the star on the far left', 'superlative'), ('the bottom-most circle', 'superlative'),
    ('the second star from the left', 'ordinal'),
    ('the bigger of the two circles', 'comparative'), ('the smaller star', 'comparative'),
    ('the one next to the orange star shape', 'near'),
    ('the circle closest to the red box', 'near'),
    ('the red star above the blue circle', 'relation'),
    ('the red star in the lower left corner', 'position'),
    ('the big striped red star', 'attributes'), ('the red star', 'short')])
def test_classify_sentence_of_another_generator(sentence, family):
    assert synthetic.classify_sentence(sentence) == family


def test_results_by_family_reads_the_dataset_record(dataset):
    families = synthetic.load_families(dataset['root'])
    rows = [dict(text=r['sent'], iou=0.5, pointm_hit=True)
            for r in dataset['sentences'].values()]
    table = {r['family']: r['n'] for r in synthetic.results_by_family(rows, families)}
    expected = {}
    for r in dataset['sentences'].values():
        expected[r['family']] = expected.get(r['family'], 0) + 1
    assert table == dict(expected, all=len(rows))


def test_is_current(tmp_path, dataset):
    assert synthetic.is_current(dataset['root'])
    assert not synthetic.is_current(tmp_path)
    for name in ('refs(unc).p', 'stats.json'):
        (tmp_path / name).write_bytes((dataset['root'] / name).read_bytes())
    assert synthetic.is_current(tmp_path)
    stats = json.loads((tmp_path / 'stats.json').read_text())
    (tmp_path / 'stats.json').write_text(json.dumps(dict(stats, generator_version='0.9')))
    assert not synthetic.is_current(tmp_path)
    (tmp_path / 'stats.json').write_text('{not json')
    assert not synthetic.is_current(tmp_path)


def test_docs_list_the_heldout_phrasings():
    doc = (Path(__file__).parents[2] / 'docs/notes/synthetic_data.md').read_text()
    section = doc.split('## The held-out phrasing split')[1].split('\n## ')[0]
    rows = re.findall(r'^\| ([^|]+?) \| [^|]+ \| [^|]+ \|$', section, re.M)
    assert rows[0] == "held-out phrasing" and rows[1:] == list(synthetic.HELDOUT_PHRASINGS)


def test_train_split_leaves_out_the_families_that_compare_shapes(tmp_path):
    counts = dict(COUNTS, num_train_images=40, num_val_images=20)
    stats = {}
    for name, train_weights in (('default', None), ('all', synthetic.grammar._FAMILY_WEIGHTS)):
        stats[name] = synthetic.make_synthetic_refer(
            tmp_path / name, image_size=64, seed=SEED, num_fn_batches=2,
            train_family_weights=train_weights, **counts)
    shares = stats['default']['language']
    assert all(shares['train']['family_share'][f] == 0 for f in synthetic.TRAIN_LEFT_OUT)
    assert sum(shares['val']['family_share'][f] for f in synthetic.TRAIN_LEFT_OUT) > 0
    assert sum(stats['all']['language']['train']['family_share'][f]
               for f in synthetic.TRAIN_LEFT_OUT) > 0
    assert set(stats['default']['train_family_weights']) == (
        set(FAMILIES) - set(synthetic.TRAIN_LEFT_OUT))
    # The other splits do not change; sentence ids may (train comes first).
    others = []
    for name in stats:
        refs = pickle.loads((tmp_path / name / 'refs(unc).p').read_bytes())
        others.append([(r['ann_id'], [s['sent'] for s in r['sentences']]) for r in refs
                       if r['split'] != 'train'])
    assert others[0] == others[1]
