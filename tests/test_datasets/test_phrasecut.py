import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image, ImageDraw

from sgseg.datasets import LoadRefImage, LoadRefMask, PhraseCutDataset
from sgseg.datasets.validation import InvalidDataError
from sgseg.registry import DATASETS
from tests.fixtures import PHRASECUT_TASKS, LogRecords, write_phrasecut_dataset

REPO = Path(__file__).parents[2]


@pytest.fixture(scope='module')
def phrasecut(tmp_path_factory):
    return write_phrasecut_dataset(tmp_path_factory.mktemp('phrasecut'))


def build(phrasecut, split, **kwargs):
    """One sample per task, also in test mode (grouping: test_group_by_image.py)."""
    kwargs.setdefault('group_by_image', False)
    return PhraseCutDataset(data_root=phrasecut['data_root'],
                            ann_file=f'refer_{split}.json', **kwargs)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_one_sample_per_task(phrasecut, split):
    dataset = build(phrasecut, split, test_mode=split == 'val')
    assert len(dataset) == phrasecut['tasks'][split] == 2
    info = dataset.get_data_info(0)
    task = PHRASECUT_TASKS[split][0]
    assert info['text'] == task['phrase']
    assert info['sent_id'] == info['ref_id'] == task['task_id']
    assert info['img_path'] == f"{phrasecut['img_dir']}/{task['image_id']}.jpg"
    assert info['split'] == split
    assert ('segmentation' in info) == (split == 'val')


def test_sizes_from_image_info(phrasecut):
    dataset = build(phrasecut, 'val', test_mode=True)
    assert [(d['height'], d['width']) for d in
            (dataset.get_data_info(i) for i in range(2))] == [(28, 36), (30, 40)]


def _draw(polygons, height, width):
    """Rasterise polygons with PIL, an independent reference for the union mask."""
    canvas = Image.new('L', (width, height))
    draw = ImageDraw.Draw(canvas)
    for instance in polygons:
        for polygon in instance:
            if len(polygon) >= 3:
                draw.polygon([tuple(p) for p in polygon], fill=1)
    return np.array(canvas)


@pytest.mark.parametrize('idx', [0, 1])
def test_eval_mask_is_union_of_instances(phrasecut, idx):
    dataset = build(phrasecut, 'val', test_mode=True)
    results = LoadRefMask()(LoadRefImage()(dataset.get_data_info(idx)))
    mask = results['gt_ref_mask']
    task = PHRASECUT_TASKS['val'][idx]
    reference = _draw(task['Polygons'], *mask.shape)
    # pycocotools and PIL rasterise polygon edges differently by at most a pixel.
    assert (mask != reference).mean() < 0.15
    assert mask.sum() > 0
    if idx == 0:
        # every instance contributes: one pixel inside each of the three polygons
        assert mask[3, 5] == mask[2, 27] == mask[20, 10] == 1
        assert mask[12, 30] == 0


def test_missing_files(phrasecut, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ann_file '.*refer_test.json' not found"):
        build(phrasecut, 'test')
    with pytest.raises(FileNotFoundError, match=r"image_info_file '.*nope.json' not found"):
        build(phrasecut, 'val', image_info_file='nope.json')


def test_task_with_unknown_image(phrasecut, tmp_path):
    info = tmp_path / 'image_data.json'
    info.write_text('[{"image_id": 1, "width": 40, "height": 30}]')
    with pytest.raises(InvalidDataError, match=r"task 2__1: image is not in the image list "
                                               r"\(image_id 2 not in '.*image_data.json'\)"):
        build(phrasecut, 'val', image_info_file=str(info))


def _edited(phrasecut, tmp_path, split, edit):
    tasks = json.loads(Path(phrasecut[f'refer_{split}']).read_text())
    edit(tasks)
    path = tmp_path / f'refer_{split}.json'
    path.write_text(json.dumps(tasks))
    return str(path)


def test_every_bad_task_in_one_error_then_skip(phrasecut, tmp_path):
    def edit(tasks):
        tasks[0]['Polygons'][1][0][1][0] = float('nan')  # 2__1: the 3rd polygon in all
        tasks[1]['phrase'] = None                         # 1__3
        tasks.append(dict(tasks[0], Polygons=[[[[1, 1], [5e8, 1], [3, 3]]]]))  # same id
        tasks.append(dict(tasks[0], task_id='9__9', Polygons=[[[1, 2, 3]]]))
        tasks.append(dict(tasks[0], task_id='9__8', phrase='fine'))
        tasks[-1]['Polygons'] = [[[[1, 1], [9, 1], [9, 9]]]]
    ann_file = _edited(phrasecut, tmp_path, 'val', edit)
    kwargs = dict(data_root=phrasecut['data_root'], ann_file=ann_file, test_mode=True)
    with pytest.raises(InvalidDataError) as info:
        PhraseCutDataset(**kwargs)
    message = str(info.value)
    for line in [
            "task 2__1: polygon coordinate is not finite (polygon 2, coordinate 2 = nan)",
            "task 1__3: sentence is not a string (NoneType None)",
            "task 2__1: task_id appears more than once (entries 0 and 2)",
            "task 9__9: Polygons is not a list of instances of polygons of [x, y] points",
    ]:
        assert f"'{ann_file}': {line}" in message
    assert len(info.value.problems) == 4  # the duplicate is dropped before its polygons
    dataset = PhraseCutDataset(on_invalid='skip', group_by_image=False, **kwargs)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [d['sent_id'] for d in infos] == ['9__8']


def test_out_of_image_polygon_and_empty_region(phrasecut, tmp_path):
    def edit(tasks):
        tasks[0]['Polygons'] = [[[[1, 1], [20, 1], [20, 5000]]]]  # image 2 is 36 x 28
        tasks[1]['Polygons'] = [[[[0, 20], [39, 20]]]]  # only a 2-point polygon
    ann_file = _edited(phrasecut, tmp_path, 'val', edit)
    with pytest.raises(InvalidDataError, match=r'task 2__1: polygon coordinate lies outside '
                                               r'the image \(polygon 0, coordinate 5 = 5000.0; '
                                               r'image 28 x 36 \(HxW\)\)'):
        PhraseCutDataset(data_root=phrasecut['data_root'], ann_file=ann_file, test_mode=True)
    # Training reads no polygon: the same file trains.
    assert len(PhraseCutDataset(data_root=phrasecut['data_root'], ann_file=ann_file)) == 2


def test_empty_region_kept_and_logged(phrasecut, tmp_path):
    def edit(tasks):
        tasks[1]['Polygons'] = [[[[0, 20], [39, 20]]]]  # 1__3: only a 2-point polygon
    ann_file = _edited(phrasecut, tmp_path, 'val', edit)
    with LogRecords() as records:
        dataset = PhraseCutDataset(data_root=phrasecut['data_root'], ann_file=ann_file,
                                   test_mode=True)
    assert len(dataset) == 2
    note = next(m for m in records.messages if 'empty ground-truth mask' in m)
    assert "1 of 2 evaluation tasks have an empty ground-truth mask: ['1__3']" in note


def test_empty_task_list(phrasecut, tmp_path):
    ann_file = _edited(phrasecut, tmp_path, 'train', lambda tasks: tasks.clear())
    with pytest.raises(ValueError, match=r"PhraseCut ann_file '.*refer_train.json' has no "
                                         r'tasks$'):
        PhraseCutDataset(data_root=phrasecut['data_root'], ann_file=ann_file)


def test_dataset_config_builds_and_loads(phrasecut):
    cfg = Config.fromfile(f'{REPO}/configs/_base_/datasets/phrasecut.py')
    init_default_scope('sgseg')
    for split in ('train', 'val'):
        dataset_cfg = cfg[f'{split}_dataloader']['dataset']
        dataset_cfg.update(data_root=phrasecut['data_root'])
        packed = DATASETS.build(dataset_cfg)[0]
        assert packed['inputs'].shape == (3, 384, 384)
        sentences = packed['data_samples'].get('expressions', [packed['data_samples']])
        assert ('expressions' in packed['data_samples']) == (split == 'val')
        assert all(('gt_sem_seg' in s) == (split == 'val') for s in sentences)
