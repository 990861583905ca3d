"""ImageTextDataset: rows, validation with line numbers, masks, refer round trips, check."""
import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from mmengine.registry import init_default_scope
from PIL import Image
from pycocotools.coco import COCO

from sgseg.datasets import ImageTextDataset, ReferDataset, read_image_text_file
from sgseg.datasets.converters import (check_image_text_file, records_to_refer,
                                       refer_to_records, write_records)
from sgseg.registry import DATASETS
from tests.fixtures import write_refer_dataset

TEST_PIPELINE = [dict(type='LoadRefImage'), dict(type='LoadRefMask'),
                 dict(type='PackRefSegInputs')]


def write_lines(path: Path, lines) -> Path:
    path.write_text('\n'.join(lines) + '\n')
    return path


@pytest.fixture(scope='module')
def refer(tmp_path_factory):
    return write_refer_dataset(tmp_path_factory.mktemp('refer'))


@pytest.fixture
def own(tmp_path):
    """Two images, a PNG mask, an RLE mask and polygons."""
    (tmp_path / 'photos').mkdir()
    (tmp_path / 'masks').mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in (('a.jpg', (20, 30)), ('b.png', (16, 12))):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            tmp_path / 'photos' / name)
    png = np.zeros((20, 30), np.uint8)
    png[2:9, 3:17] = 255
    cv2.imwrite(str(tmp_path / 'masks' / 'a.png'), png)
    rle = mask_utils.encode(np.asfortranarray((np.arange(16 * 12).reshape(16, 12) % 5 == 0)
                                              .astype(np.uint8)))
    rle['counts'] = rle['counts'].decode()
    rows = [
        dict(image='photos/a.jpg', texts=['the left block', 'top thing'], mask='masks/a.png'),
        dict(image='photos/b.png', text='dots', mask=rle),
        dict(image='photos/a.jpg', text='a triangle', mask=[[1, 1, 20, 1, 10, 15]]),
    ]
    write_lines(tmp_path / 'val.jsonl', [json.dumps(r) for r in rows])
    return tmp_path, png > 0, rle


def test_training_samples_one_per_sentence_without_masks(own):
    root, *_ = own
    dataset = ImageTextDataset(ann_file='val.jsonl', data_root=str(root))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(d['text'], d['sent_id'], d['ref_id'], d['image_id']) for d in infos] == [
        ('the left block', 0, 1, 0), ('top thing', 1, 1, 0), ('dots', 2, 2, 1),
        ('a triangle', 3, 3, 0)]
    assert infos[0]['img_path'] == str(root / 'photos/a.jpg')
    assert not any('segmentation' in d or 'mask_path' in d for d in infos)
    per_image = ImageTextDataset(ann_file='val.jsonl', data_root=str(root),
                                 train_sample='image')
    assert len(per_image) == 2
    drawn = {per_image.get_data_info(0)['text'] for _ in range(60)}
    assert drawn == {'the left block', 'top thing', 'a triangle'}


def test_eval_masks_png_rle_polygons(own):
    root, png, rle = own
    init_default_scope('sgseg')
    dataset = ImageTextDataset(ann_file='val.jsonl', data_root=str(root), test_mode=True,
                               group_by_image=False, pipeline=TEST_PIPELINE)
    masks = [dataset[i]['data_samples'].gt_sem_seg.data[0].numpy() for i in range(4)]
    # grouped by image (the evaluation default): the same masks, sentence by sentence
    grouped = ImageTextDataset(ann_file='val.jsonl', data_root=str(root), test_mode=True,
                               pipeline=TEST_PIPELINE)
    regrouped = {s.sent_id: s.gt_sem_seg.data[0].numpy() for i in range(len(grouped))
                 for s in grouped[i]['data_samples'].expressions}
    assert len(grouped) == 2 and sorted(regrouped) == [0, 1, 2, 3]
    assert all((masks[i] == regrouped[i]).all() for i in range(4))
    assert (masks[0] == png).all() and (masks[1] == png).all()
    assert (masks[2] == mask_utils.decode(dict(rle, counts=rle['counts'].encode()))).all()
    tri = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([[1, 1, 20, 1, 10, 15]],
                                                                    20, 30)))
    assert masks[3].sum() > 0 and (masks[3] == tri).all()


def test_eval_mask_of_the_wrong_size_names_the_file(own):
    root, *_ = own
    cv2.imwrite(str(root / 'masks' / 'a.png'), np.zeros((5, 5), np.uint8))
    init_default_scope('sgseg')
    dataset = ImageTextDataset(ann_file='val.jsonl', data_root=str(root), test_mode=True,
                               pipeline=TEST_PIPELINE)
    with pytest.raises(ValueError, match=r"mask file '.*masks/a.png' \(sent_id 0\) is 5x5 "
                                         r"\(HxW\) but its image '.*a.jpg' is 20x30"):
        dataset[0]


def test_build_reports_every_bad_row_with_its_line(tmp_path):
    path = write_lines(tmp_path / 'train.jsonl', [
        json.dumps(dict(image='a.jpg', text='fine')),
        '{"image": "b.jpg", "text": ',
        json.dumps(dict(text='no image')),
        '',
        json.dumps(dict(image='c.jpg', texts=['ok', '  '])),
        json.dumps(dict(image='d.jpg', text='x', mask=[[1, 2]])),
        json.dumps(dict(image='e.jpg', text='y', mask=dict(size=[4], counts='a'))),
        json.dumps(dict(image='f.jpg', text='z', mask=dict(size=[2, 2], counts=[1, 2]))),
    ])
    with pytest.raises(ValueError) as err:
        ImageTextDataset(ann_file=str(path))
    message = str(err.value)
    for expected in ('6 bad row(s)', 'line 2: not valid JSON', "line 3: no 'image'",
                     'line 5: sentence(s) [1] are empty', "line 6: 'mask' must be",
                     "line 7: an RLE 'mask' needs",
                     "line 8: 'mask': RLE counts do not sum to height x width"):
        assert expected in message, (expected, message)
    assert 'line 1' not in message and 'line 4' not in message


def test_non_finite_polygon_fails_at_build(tmp_path):
    """Not in pycocotools, which would allocate until the process is killed."""
    path = write_lines(tmp_path / 'val.jsonl', [
        json.dumps(dict(image='a.jpg', text='x', mask=[[1, 2, 5, 2, float(v), 9]]))
        for v in ('nan', 'inf')])
    with pytest.raises(ValueError) as err:
        ImageTextDataset(ann_file=str(path), test_mode=True)
    for expected in ("line 1: the polygons of 'mask' hold a non-finite coordinate (nan)",
                     "line 2: the polygons of 'mask' hold a non-finite coordinate (inf)"):
        assert expected in str(err.value)


def test_eval_needs_a_mask_on_every_row(tmp_path):
    path = write_lines(tmp_path / 'val.jsonl', [json.dumps(dict(image='a.jpg', text='t'))])
    with pytest.raises(ValueError, match=r"evaluation needs a 'mask'.*\(lines 1\)"):
        ImageTextDataset(ann_file=str(path), test_mode=True)


def test_csv_rows_and_errors(tmp_path):
    path = tmp_path / 'train.csv'
    path.write_text('image,text,mask\n'
                    'a.jpg,"the cat, asleep",\n'
                    'b.jpg,,\n'
                    'c.jpg,dog,"[[1,1,5,1,3,4]]"\n'
                    'd.jpg,x,y,z\n')
    rows, errors = read_image_text_file(str(path), strict=False)
    assert [(r.line, r.image, r.texts, r.mask) for r in rows] == [
        (2, 'a.jpg', ['the cat, asleep'], None), (4, 'c.jpg', ['dog'], [[1, 1, 5, 1, 3, 4]])]
    assert [(e.line, e.kind) for e in errors] == [(3, 'empty_sentence'), (5, 'format')]


def test_registered_and_built_from_config(own):
    root, *_ = own
    init_default_scope('sgseg')
    dataset = DATASETS.build(dict(type='ImageTextDataset', data_root=str(root),
                                  ann_file='val.jsonl'))
    assert isinstance(dataset, ImageTextDataset) and len(dataset) == 4


@pytest.mark.parametrize('fmt', ['jsonl', 'csv'])
def test_refer_round_trip_keeps_samples_and_masks(refer, tmp_path, fmt):
    """refer -> image-text -> samples and masks as COCO.annToMask; -> refer -> same samples."""
    init_default_scope('sgseg')
    coco = COCO(refer['instances'])
    by_split = refer_to_records(refer['data_root'], img_prefix='train2014')
    files = {}
    for split, records in by_split.items():
        files[split] = str(tmp_path / f'{split}.{fmt}')
        write_records(files[split], records)
    original = ReferDataset(data_root=refer['data_root'], split='val', test_mode=True,
                            group_by_image=False, data_prefix=dict(img_path='train2014'))
    converted = ImageTextDataset(ann_file=files['val'], data_root=refer['data_root'],
                                 test_mode=True, group_by_image=False,
                                 pipeline=TEST_PIPELINE)
    assert len(converted) == len(original) == 3
    for i in range(len(original)):
        want = original.get_data_info(i)
        got = converted.get_data_info(i)
        assert (got['img_path'], got['text']) == (want['img_path'], want['text'])
        mask = converted[i]['data_samples'].gt_sem_seg.data[0].numpy()
        assert mask.sum() > 0 and (mask == coco.annToMask(coco.anns[want['ann_id']])).all()

    back = tmp_path / 'refer_again'
    records_to_refer(files, refer['data_root'], str(back))
    for split in ('train', 'val', 'testA', 'testB'):
        a = ReferDataset(data_root=refer['data_root'], split=split, test_mode=True,
                         group_by_image=False, data_prefix=dict(img_path='train2014'))
        b = ReferDataset(data_root=str(back), split=split, test_mode=True,
                         group_by_image=False, data_prefix=dict(img_path=refer['data_root']))
        assert len(a) == len(b)
        coco_b = COCO(str(back / 'instances.json'))
        for i in range(len(a)):
            x, y = a.get_data_info(i), b.get_data_info(i)
            assert (x['img_path'], x['text'], x['height'], x['width']) == \
                (y['img_path'], y['text'], y['height'], y['width'])
            assert (coco.annToMask(coco.anns[x['ann_id']])
                    == coco_b.annToMask(coco_b.anns[y['ann_id']])).all()
    refs = pickle.load(open(back / 'refs(unc).p', 'rb'))
    # a ref's sentences stay together in jsonl (one row per ref) and regroup from csv
    assert sorted(len(r['sentences']) for r in refs) == [1, 1, 2, 2, 2, 3]


def test_check_reports_each_kind_with_its_line_and_goes_on(own):
    root, *_ = own
    (root / 'photos' / 'broken.jpg').write_bytes(b'not an image')
    cv2.imwrite(str(root / 'masks' / 'small.png'), np.zeros((4, 4), np.uint8))
    small_rle = mask_utils.encode(np.asfortranarray(np.ones((3, 3), np.uint8)))
    small_rle['counts'] = small_rle['counts'].decode()
    lines = [
        json.dumps(dict(image='photos/a.jpg', text='good', mask='masks/a.png')),
        json.dumps(dict(image='photos/missing.jpg', text='gone')),
        json.dumps(dict(image='photos/broken.jpg', text='broken')),
        json.dumps(dict(image='photos/a.jpg', text='')),
        json.dumps(dict(image='photos/a.jpg', text='small', mask='masks/small.png')),
        json.dumps(dict(image='photos/a.jpg', text='rle', mask=small_rle)),
        json.dumps(dict(image='photos/a.jpg', text='poly', mask=[[0, 0, 50, 0, 50, 5]])),
        json.dumps(dict(image='photos/a.jpg', text='no png', mask='masks/none.png')),
        '{broken json',
        json.dumps(dict(image='photos/b.png', text='also good')),
    ]
    report = check_image_text_file(str(write_lines(root / 'all.jsonl', lines)), str(root))
    assert [(e.line, e.kind) for e in report.errors] == [
        (2, 'missing_image'), (3, 'unreadable_image'), (4, 'empty_sentence'),
        (5, 'mask_size'), (6, 'mask_size'), (7, 'mask_size'), (8, 'missing_mask'),
        (9, 'format')]
    assert (report.rows, report.images, report.masks) == (10, 4, 5)
    summary = report.summary()
    assert 'line 5: mask file' in summary and '8 bad row(s)' in summary
    assert summary.endswith('FAILED')
    clean = check_image_text_file(str(root / 'val.jsonl'), str(root))
    assert clean.errors == [] and clean.summary().endswith('OK')
