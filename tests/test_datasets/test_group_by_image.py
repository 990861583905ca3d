"""Evaluation samples grouped by image: every sentence once, packed as it would be alone."""
import pytest
import torch

from sgseg.datasets import PhraseCutDataset, ReferDataset, group_by_image
from sgseg.registry import TRANSFORMS
from tests.fixtures import write_phrasecut_dataset, write_refer_dataset

PIPELINE = [dict(type='LoadRefImage'), dict(type='LoadRefMask'),
            dict(type='Resize', scale=(16, 16), keep_ratio=False), dict(type='PackRefSegInputs')]


def pipeline():
    return [TRANSFORMS.build(step) for step in PIPELINE]


@pytest.fixture(scope='module')
def refer(tmp_path_factory):
    return write_refer_dataset(tmp_path_factory.mktemp('refcoco'))


def sentence_fields(item):
    """The per-sentence dicts of a grouped item, image fields put back."""
    image = {k: v for k, v in item.items() if k not in ('expressions', 'sample_idx')}
    return [dict(image, **e) for e in item['expressions']]


@pytest.mark.parametrize('split', ['val', 'test', 'testB'])
def test_test_mode_gives_one_sample_per_image_with_every_sentence(refer, split):
    grouped = ReferDataset(data_root=refer['data_root'], split=split, test_mode=True)
    flat = ReferDataset(data_root=refer['data_root'], split=split, test_mode=True,
                        group_by_image=False)
    items = [grouped.get_data_info(i) for i in range(len(grouped))]
    sentences = [flat.get_data_info(i) for i in range(len(flat))]
    assert len({item['img_path'] for item in items}) == len(items)
    unpacked = [s for item in items for s in sentence_fields(item)]
    drop = 'sample_idx'
    assert sorted(({k: v for k, v in s.items() if k != drop} for s in unpacked),
                  key=lambda s: s['sent_id']) == \
        sorted(({k: v for k, v in s.items() if k != drop} for s in sentences),
               key=lambda s: s['sent_id'])
    counts = refer['sentences']['refs(unc).p']
    assert len(unpacked) == (counts['testA'] + counts['testB'] if split == 'test'
                             else counts[split])


def test_sentences_of_two_refs_share_their_image(refer):
    # 'test' = testA (ref 3, one sentence) + testB (ref 4, two) all on image 102
    dataset = ReferDataset(data_root=refer['data_root'], split='test', test_mode=True)
    assert len(dataset) == 1
    item = dataset.get_data_info(0)
    assert item['image_id'] == 102 and (item['height'], item['width']) == (28, 36)
    assert [(e['ref_id'], e['sent_id'], e['split']) for e in item['expressions']] == \
        [(3, 5, 'testA'), (4, 6, 'testB'), (4, 7, 'testB')]
    assert all('segmentation' in e for e in item['expressions'])


def test_training_stays_per_sentence(refer):
    train = ReferDataset(data_root=refer['data_root'], split='train')
    assert len(train) == refer['sentences']['refs(unc).p']['train']
    assert 'expressions' not in train.get_data_info(0)
    with pytest.raises(ValueError, match='group_by_image=True needs test_mode=True'):
        ReferDataset(data_root=refer['data_root'], split='train', group_by_image=True)


def test_phrasecut_groups_too(tmp_path):
    phrasecut = write_phrasecut_dataset(tmp_path)
    dataset = PhraseCutDataset(data_root=phrasecut['data_root'], ann_file='refer_val.json',
                               test_mode=True)
    items = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [[e['sent_id'] for e in item['expressions']] for item in items] == \
        [['2__1'], ['1__3']]


def test_images_that_disagree_are_an_error():
    sentences = [dict(img_path='a.jpg', image_id=1, height=4, width=5, sent_id=1, text='x'),
                 dict(img_path='a.jpg', image_id=1, height=4, width=6, sent_id=2, text='y')]
    with pytest.raises(ValueError, match=r"sentences 1 and 2 share the image file 'a.jpg' "
                                         r'but not its width'):
        group_by_image(sentences, 'refs.p')
    sentences[1]['width'] = 5
    grouped = group_by_image(sentences + [dict(img_path='b.jpg', sent_id=3, text='z')])
    assert [[e['sent_id'] for e in g['expressions']] for g in grouped] == [[1, 2], [3]]
    assert grouped[0]['expressions'][1] == dict(sent_id=2, text='y')


def test_packed_sentences_equal_those_of_the_per_sentence_pipeline(refer):
    grouped = ReferDataset(data_root=refer['data_root'], split='val', test_mode=True,
                           pipeline=pipeline())
    flat = ReferDataset(data_root=refer['data_root'], split='val', test_mode=True,
                        group_by_image=False, pipeline=pipeline())
    alone = {}
    for i in range(len(flat)):
        packed = flat[i]
        alone[packed['data_samples'].sent_id] = packed
    seen = []
    for i in range(len(grouped)):
        packed = grouped[i]
        image = packed['data_samples']
        assert 'gt_sem_seg' not in image and image.image_id is not None
        for sample in image.expressions:
            reference = alone[sample.sent_id]
            assert torch.equal(packed['inputs'], reference['inputs'])
            assert sample.metainfo == reference['data_samples'].metainfo
            assert torch.equal(sample.gt_sem_seg.data, reference['data_samples'].gt_sem_seg.data)
            seen.append(sample.sent_id)
    assert sorted(seen) == sorted(alone)
