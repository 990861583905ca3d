"""Broken refer-format annotations fail at dataset build, naming the file / ref / key."""
import os
import pickle

import pytest

from sgseg.datasets import ReferDataset, load_refs
from sgseg.datasets.transforms import LoadRefImage
from tests.fixtures import write_refer_dataset


@pytest.fixture(scope='module')
def refer(tmp_path_factory):
    return write_refer_dataset(tmp_path_factory.mktemp('refcoco'))


def with_refs(refer, tmp_path, edit):
    refs = load_refs(refer['refs_unc'])
    edit(refs)
    path = tmp_path / 'refs(edited).p'
    with open(path, 'wb') as f:
        pickle.dump(refs, f)
    return str(path)


def test_ref_points_at_missing_annotation(refer, tmp_path):
    ann_file = with_refs(refer, tmp_path, lambda refs: refs[0].update(ann_id=999))
    with pytest.raises(KeyError, match=r"ref 1 points at annotation 999, which is not in "
                                       r"'.*instances.json'"):
        ReferDataset(data_root=refer['data_root'], ann_file=ann_file, split='train')


def test_ref_points_at_missing_image(refer, tmp_path):
    ann_file = with_refs(refer, tmp_path, lambda refs: refs[0].update(image_id=555))
    with pytest.raises(KeyError, match=r'ref 1 points at image 555'):
        ReferDataset(data_root=refer['data_root'], ann_file=ann_file, split='train')


def test_annotation_without_segmentation_at_eval(tmp_path):
    refer = write_refer_dataset(tmp_path, with_segmentation=False)
    # training never needs masks ...
    assert len(ReferDataset(data_root=refer['data_root'], split='train')) > 0
    # ... evaluation does, and says which annotation lacks one
    with pytest.raises(KeyError, match=r"annotation \d+ \(ref \d+\) in '.*instances.json' has "
                                       r"no 'segmentation'"):
        ReferDataset(data_root=refer['data_root'], split='val', test_mode=True)


def test_wrong_split_lists_the_splits_present(refer):
    with pytest.raises(ValueError, match=r"split 'tset' not in refs file '.*refs\(unc\).p'; "
                                         r"it has \['testA', 'testB', 'train', 'val'\]"):
        ReferDataset(data_root=refer['data_root'], split='tset')


def test_wrong_split_by_names_the_refs_file_and_folder(refer):
    with pytest.raises(FileNotFoundError, match=r"refs file 'refs\(google\).p' not found under "
                                                f"{refer['data_root']}"):
        ReferDataset(data_root=refer['data_root'], ann_file='refs(google).p', split='val')


def test_missing_refs_pickle(tmp_path):
    refer = write_refer_dataset(tmp_path)
    os.remove(refer['refs_unc'])
    with pytest.raises(FileNotFoundError, match=r"refs file 'refs\(unc\).p' not found"):
        ReferDataset(data_root=refer['data_root'], split='train')


def test_missing_instances_file(tmp_path):
    refer = write_refer_dataset(tmp_path)
    os.remove(refer['instances'])
    with pytest.raises(FileNotFoundError, match=r"instances file '.*instances.json' not found "
                                                r"\(key 'instances_file'"):
        ReferDataset(data_root=refer['data_root'], split='train')


def test_image_folder_wrong_fails_at_load_naming_file_and_sentence(refer):
    dataset = ReferDataset(data_root=refer['data_root'], split='train',
                           data_prefix=dict(img_path='images/mscoco/train2014'),
                           pipeline=[LoadRefImage()])
    with pytest.raises(FileNotFoundError, match=r"images/mscoco/train2014/.*' \(sent_id \d+\) "
                                                'not found'):
        dataset[0]
