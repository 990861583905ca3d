import pickle
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from pycocotools.coco import COCO

from sgseg.datasets import ReferDataset, load_refs
from sgseg.datasets.validation import InvalidDataError
from sgseg.registry import DATASETS
from tests.fixtures import write_refer_dataset

REPO = Path(__file__).parents[2]


@pytest.fixture(scope='module')
def refer(tmp_path_factory):
    return write_refer_dataset(tmp_path_factory.mktemp('refcoco'))


def build(refer, **kwargs):
    """One sample per sentence, also in test mode (grouping: test_group_by_image.py)."""
    kwargs.setdefault('ann_file', 'refs(unc).p')
    kwargs.setdefault('group_by_image', False)
    return ReferDataset(data_root=refer['data_root'], **kwargs)


@pytest.mark.parametrize('ann_file,split,num', [
    ('refs(unc).p', 'train', 5), ('refs(unc).p', 'val', 3), ('refs(unc).p', 'testA', 1),
    ('refs(unc).p', 'testB', 2), ('refs(umd).p', 'train', 1), ('refs(umd).p', 'val', 2),
    ('refs(umd).p', 'test', 3)])
def test_sentences_per_split(refer, ann_file, split, num):
    assert refer['sentences'][ann_file][split] == num
    for test_mode in (False, True):
        dataset = build(refer, ann_file=ann_file, split=split, test_mode=test_mode)
        assert len(dataset) == num


def test_test_is_testA_and_testB(refer):
    test = build(refer, split='test', test_mode=True)
    parts = [build(refer, split=s, test_mode=True) for s in ('testA', 'testB')]
    ids = sorted(test.get_data_info(i)['sent_id'] for i in range(len(test)))
    assert ids == sorted(p.get_data_info(i)['sent_id'] for p in parts
                         for i in range(len(p)))
    assert ids == [5, 6, 7]
    assert {test.get_data_info(i)['split'] for i in range(len(test))} == {'testA', 'testB'}


def test_eval_samples_one_per_sentence(refer):
    dataset = build(refer, split='val', test_mode=True)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    refs = {r['ref_id']: r for r in load_refs(refer['refs_unc'])}
    assert [(d['ref_id'], d['sent_id']) for d in infos] == [(2, 3), (2, 4), (6, 11)]
    for d in infos:
        sent = next(s for s in refs[d['ref_id']]['sentences']
                    if s['sent_id'] == d['sent_id'])
        assert d['text'] == sent['sent']
        assert 'segmentation' in d
    coco = COCO(refer['instances'])
    assert infos[0]['segmentation'] == coco.anns[2]['segmentation']
    assert (infos[2]['height'], infos[2]['width']) == (28, 36)


def test_image_file_name_comes_from_instances(refer):
    dataset = build(refer, split='testA', test_mode=True)
    info = dataset.get_data_info(0)
    ref = next(r for r in load_refs(refer['refs_unc']) if r['ref_id'] == 3)
    assert ref['file_name'] == 'COCO_train2014_000000000102_3.jpg'
    assert info['img_path'] == f"{refer['img_dir']}/COCO_train2014_000000000102.png"


def test_training_never_needs_masks(tmp_path):
    refer = write_refer_dataset(tmp_path, with_segmentation=False)
    for train_sample in ('sentence', 'ref'):
        dataset = build(refer, split='train', train_sample=train_sample)
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            assert 'segmentation' not in info
            assert isinstance(info['text'], str)
    with pytest.raises(InvalidDataError, match=r"annotation 2 \(ref 2\): annotation has no "
                                               r"'segmentation'"):
        build(refer, split='val', test_mode=True)


def test_train_sample_ref_draws_seeded_sentences(refer):
    dataset = build(refer, split='train', train_sample='ref')
    assert len(dataset) == 2  # refs 1 and 5
    np.random.seed(0)
    first = [dataset.get_data_info(1)['sent_id'] for _ in range(30)]
    np.random.seed(0)
    assert [dataset.get_data_info(1)['sent_id'] for _ in range(30)] == first
    assert set(first) == {8, 9, 10}
    texts = {dataset.get_data_info(0)['text'] for _ in range(30)}
    assert texts == {'the left square', 'small box'}


def test_text_key_raw(refer):
    dataset = build(refer, split='testA', text_key='raw')
    assert dataset.get_data_info(0)['text'] == 'Top band.'


def test_image_folder_is_a_config_key(tmp_path):
    refer = write_refer_dataset(tmp_path / 'refcoco', img_dir='../coco/train2014')
    dataset = build(refer, split='val', data_prefix=dict(img_path='../coco/train2014'))
    assert dataset.get_data_info(0)['img_path'].endswith(
        'coco/train2014/COCO_train2014_000000000101.jpg')


def test_missing_refs_file(refer):
    with pytest.raises(FileNotFoundError,
                       match=r"refs file 'refs\(google\).p' not found under .*refcoco"):
        build(refer, ann_file='refs(google).p')


def test_unknown_split_lists_present_splits(refer):
    with pytest.raises(ValueError, match=r"split 'testC'.*\['testA', 'testB', 'train', "
                                         r"'val'\]"):
        build(refer, split='testC')
    with pytest.raises(ValueError, match=r"split 'testA'.*\['test', 'train', 'val'\]"):
        build(refer, ann_file='refs(umd).p', split='testA')


@pytest.mark.parametrize('field,value,message', [
    ('ann_id', 999, r'ref 1: annotation is not in the instances file \(ann_id 999'),
    ('image_id', 555, r'ref 1: image is not in the instances file \(image_id 555'),
])
def test_dangling_ref(refer, tmp_path, field, value, message):
    refs = load_refs(refer['refs_unc'])
    refs[0][field] = value
    with open(tmp_path / 'refs(bad).p', 'wb') as f:
        pickle.dump(refs, f)
    with pytest.raises(InvalidDataError, match=message):
        ReferDataset(data_root=refer['data_root'], ann_file=str(tmp_path / 'refs(bad).p'),
                     split='train')


def test_duplicate_sent_id_names_both_refs(refer, tmp_path):
    """Two result rows with one id (and one overlay over the other) are refused."""
    refs = load_refs(refer['refs_unc'])
    refs[5]['sentences'][0]['sent_id'] = 3  # ref 6 (val) takes ref 2's first sent_id
    with open(tmp_path / 'refs(dup).p', 'wb') as f:
        pickle.dump(refs, f)
    kwargs = dict(data_root=refer['data_root'], ann_file=str(tmp_path / 'refs(dup).p'),
                  split='val', test_mode=True)
    with pytest.raises(InvalidDataError, match=r"refs\(dup\).p': sent_id 3: sent_id appears "
                                               r'more than once \(in ref 2 and in ref 6\)'):
        ReferDataset(**kwargs)
    dataset = ReferDataset(on_invalid='skip', group_by_image=False, **kwargs)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(d['ref_id'], d['sent_id']) for d in infos] == [(2, 3), (2, 4)]


def _py2_pickle(obj) -> bytes:
    """Pickle ``obj`` as Python 2 does: str values become byte strings (opcode 'U'),
    UTF-8 encoded; bytes values are written as they are."""
    def emit(o) -> bytes:
        if isinstance(o, dict):
            return b'}(' + b''.join(emit(k) + emit(v) for k, v in o.items()) + b'u'
        if isinstance(o, list):
            return b'](' + b''.join(emit(v) for v in o) + b'e'
        if isinstance(o, int):
            return b'J' + o.to_bytes(4, 'little', signed=True)
        raw = o if isinstance(o, bytes) else o.encode('utf-8')
        return b'U' + bytes([len(raw)]) + raw
    return b'\x80\x02' + emit(obj) + b'.'


def test_python2_refs_pickle_keeps_utf8_text(tmp_path):
    refs = [dict(ref_id=7, split='train', sentences=[dict(sent_id=1, sent='café sign'),
                                                     dict(sent_id=2, sent='der Bär')])]
    path = tmp_path / 'refs(py2).p'
    path.write_bytes(_py2_pickle(refs))
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(path.read_bytes())
    assert load_refs(str(path)) == refs


def test_python2_refs_pickle_latin1_only_where_not_utf8(tmp_path):
    """One sentence in latin-1 bytes: it alone falls back; the UTF-8 one stays right."""
    refs = [dict(ref_id=7, split='train', sentences=[
        dict(sent_id=1, sent='café sign'), dict(sent_id=2, sent='naïve '.encode('latin-1'))])]
    path = tmp_path / 'refs(py2).p'
    path.write_bytes(_py2_pickle(refs))
    loaded = load_refs(str(path))
    assert loaded[0]['sentences'][0]['sent'] == 'café sign'
    assert loaded[0]['sentences'][1]['sent'] == 'naïve '
    assert list(loaded[0]) == ['ref_id', 'split', 'sentences']  # keys are str too


def test_python2_refs_pickle_builds_with_utf8_sentences(refer, tmp_path):
    refs = load_refs(refer['refs_unc'])
    refs[0]['sentences'][0]['sent'] = 'the café sign'
    path = tmp_path / 'refs(py2).p'
    path.write_bytes(_py2_pickle(refs))
    dataset = ReferDataset(data_root=refer['data_root'], ann_file=str(path), split='train')
    assert dataset.get_data_info(0)['text'] == 'the café sign'


@pytest.mark.parametrize('config,ann_file', [('refcoco', 'refs(unc).p'),
                                             ('refcocog_umd', 'refs(umd).p')])
def test_dataset_configs_build_and_load(refer, config, ann_file):
    """The shipped configs resolve every type in the sgseg scope and run end to end."""
    cfg = Config.fromfile(f'{REPO}/configs/_base_/datasets/{config}.py')
    init_default_scope('sgseg')
    for split in ('train', 'val', 'test'):
        dataset_cfg = cfg[f'{split}_dataloader']['dataset']
        assert dataset_cfg['ann_file'] == ann_file
        dataset_cfg.update(data_root=refer['data_root'],
                           data_prefix=dict(img_path='train2014'))
        packed = DATASETS.build(dataset_cfg)[0]
        assert packed['inputs'].shape == (3, 384, 384)
        # evaluation samples are images, each with the masks of its sentences
        sentences = packed['data_samples'].get('expressions', [packed['data_samples']])
        assert ('expressions' in packed['data_samples']) == (split != 'train')
        assert all(('gt_sem_seg' in s) == (split != 'train') for s in sentences)
