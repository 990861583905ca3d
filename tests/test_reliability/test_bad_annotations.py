"""Broken refer-format annotations fail at dataset build, naming the file / ref / key;
every problem of a split is reported at once, or dropped with on_invalid='skip'."""
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sgseg.datasets import ReferDataset, decode_segmentation, load_refs
from sgseg.datasets.transforms import LoadRefImage
from sgseg.datasets.validation import InvalidDataError
from tests.fixtures import LogRecords, write_refer_dataset

REPO = Path(__file__).parents[2]


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


def with_instances(refer, tmp_path, edit):
    """Write an edited copy of instances.json; ``edit(instances, anns_by_id)``."""
    instances = json.loads(Path(refer['instances']).read_text())
    edit(instances, {ann['id']: ann for ann in instances['annotations']})
    path = tmp_path / 'instances_edited.json'
    path.write_text(json.dumps(instances))  # NaN / Infinity are written as JSON does
    return str(path)


def test_ref_points_at_missing_annotation(refer, tmp_path):
    ann_file = with_refs(refer, tmp_path, lambda refs: refs[0].update(ann_id=999))
    with pytest.raises(InvalidDataError, match=r"'.*refs\(edited\).p': ref 1: annotation is "
                                               r"not in the instances file \(ann_id 999 not "
                                               r"in '.*instances.json'\)"):
        ReferDataset(data_root=refer['data_root'], ann_file=ann_file, split='train')


def test_ref_points_at_missing_image(refer, tmp_path):
    ann_file = with_refs(refer, tmp_path, lambda refs: refs[0].update(image_id=555))
    with pytest.raises(InvalidDataError, match=r'ref 1: image is not in the instances file '
                                               r'\(image_id 555'):
        ReferDataset(data_root=refer['data_root'], ann_file=ann_file, split='train')


def test_annotation_without_segmentation_at_eval(tmp_path):
    refer = write_refer_dataset(tmp_path, with_segmentation=False)
    # training never needs masks ...
    assert len(ReferDataset(data_root=refer['data_root'], split='train')) > 0
    # ... evaluation does, and says which annotation lacks one
    with pytest.raises(InvalidDataError, match=r"'.*instances.json': annotation 2 \(ref 2\): "
                                               r"annotation has no 'segmentation'"):
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


@pytest.mark.parametrize('cut', [0, 40, -1])
def test_truncated_or_foreign_refs_file(refer, tmp_path, cut):
    """Empty, cut short, or JSON in place of the pickle."""
    path = tmp_path / 'refs(cut).p'
    raw = Path(refer['refs_unc']).read_bytes()
    path.write_bytes(raw[:cut] if cut >= 0 else b'{"refs": []}')
    with pytest.raises(ValueError, match=r"refs file '.*refs\(cut\).p' is not a readable "
                                         r'pickle \(\w+: '):
        ReferDataset(data_root=refer['data_root'], ann_file=str(path), split='train')


@pytest.mark.parametrize('text', ['', '{"images": [', '[]'])
def test_broken_instances_file(refer, tmp_path, text):
    path = tmp_path / 'instances_broken.json'
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"instances file '{path}' is not (valid JSON|a "
                                         r"COCO dict with 'images' and 'annotations' lists)"):
        ReferDataset(data_root=refer['data_root'], instances_file=str(path), split='train')


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


# The child builds the dataset with its address space capped at 2 GiB above what its
# imports mapped (torch alone maps over 3 GiB), so that a regression (pycocotools
# reaching the bad polygon) ends in a MemoryError or a crash of the child rather than
# the machine's memory.
_CAPPED_BUILD = textwrap.dedent("""
    import resource, sys
    from sgseg.datasets import ReferDataset
    from sgseg.datasets.validation import InvalidDataError

    def status_kib(key):
        line = next(line for line in open('/proc/self/status') if line.startswith(key))
        return int(line.split()[1])

    cap = status_kib('VmSize') * 1024 + 2 * 1024 ** 3
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    data_root, *instances_files = sys.argv[1:]
    for instances in instances_files:
        try:
            ReferDataset(data_root=data_root, instances_file=instances, split='val',
                         test_mode=True)
        except InvalidDataError as e:
            print(e)
        else:
            sys.exit(f'{instances}: no error')
    # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, from the fork).
    print('peak_rss_kb', status_kib('VmHWM'))
""")
BAD_VALUES = (float('nan'), float('inf'), -float('inf'), 1e8)


def test_bad_polygon_coordinate_fails_at_build_with_flat_memory(refer, tmp_path):
    """One NaN / inf / 1e8 coordinate: pycocotools would allocate without bound."""
    files = []
    for n, value in enumerate(BAD_VALUES):
        def edit(instances, anns):
            anns[2]['segmentation'][1][3] = value  # ref 2 (val), second polygon
        (tmp_path / str(n)).mkdir()
        files.append(with_instances(refer, tmp_path / str(n), edit))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, '-c', _CAPPED_BUILD, refer['data_root'], *files],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for instances, value in zip(files, BAD_VALUES):
        kind = 'lies outside the image' if value == 1e8 else 'is not finite'
        assert (f"'{instances}': annotation 2 (ref 2): polygon coordinate {kind} (polygon 1, "
                f'coordinate 3 = {value!r}') in proc.stdout
    peak_gib = int(proc.stdout.split('peak_rss_kb ')[1]) / 1024 ** 2
    assert peak_gib < 2


def test_decode_segmentation_refuses_what_pycocotools_cannot_take():
    """The guard for callers other than the datasets (the mask is never allocated)."""
    with pytest.raises(ValueError, match=r'polygon coordinate is not finite \(polygon 0, '
                                         r'coordinate 2 = nan\)'):
        decode_segmentation([[1, 1, float('nan'), 1, 5, 5]], 10, 10)
    with pytest.raises(ValueError, match=r'RLE counts do not sum to height x width '
                                         r'\(101 vs 10 x 10 = 100\)'):
        decode_segmentation({'size': [10, 10], 'counts': [50, 51]}, 10, 10)


def test_every_problem_of_a_split_in_one_error_then_skip(refer, tmp_path):
    """Twelve broken entries over both files: one error lists each; 'skip' drops them."""
    def edit_refs(refs):
        by_id = {r['ref_id']: r for r in refs}
        by_id[1]['sentences'][0]['sent'] = 7              # int sentence
        by_id[1]['sentences'][1]['sent'] = None           # None sentence
        by_id[5]['sentences'][0]['sent'] = b'big triangle'  # bytes
        by_id[5]['sentences'][1]['sent'] = '  '           # blank
        by_id[5]['sentences'][2]['sent_id'] = 1           # duplicate of ref 1's
        refs.append(dict(by_id[1], ref_id=7, sentences=[]))  # no sentences
        refs.append(dict(by_id[5], ref_id=8, ann_id=3, image_id=102,  # ann 3: RLE
                         sentences=[dict(sent_id=50, sent='the blob', raw='')]))
        refs.append(dict(by_id[5], ref_id=9, ann_id=2, image_id=103,  # wrong image
                         sentences=[dict(sent_id=51, sent='odd one', raw='')]))
        refs.append(dict(by_id[5], ref_id=10, ann_id=4, image_id=102,
                         sentences=[dict(sent_id=52, sent='crowd', raw='')]))
        refs.append(dict(by_id[5], ref_id=5, sentences=[dict(sent_id=53, sent='again',
                                                             raw='')]))
        refs.append(dict(by_id[1], ref_id=11, sentences=[dict(sent_id=54, sent='fine',
                                                              raw='')]))
    ann_file = with_refs(refer, tmp_path, edit_refs)

    def edit_instances(instances, anns):
        anns[5]['segmentation'] = [[2, 2, 30, 2, 16]]          # odd length
        anns[3]['segmentation']['size'] = [24, 32]              # not image 102's size
        anns[4]['segmentation']['counts'][-1] += 5              # counts past H x W
        instances['annotations'].append(dict(image_id=101, category_id=1))  # no id
    instances = with_instances(refer, tmp_path, edit_instances)

    with pytest.raises(InvalidDataError) as info:
        ReferDataset(data_root=refer['data_root'], ann_file=ann_file,
                     instances_file=instances, split='train')
    message = str(info.value)
    refs_file = f"'{ann_file}'"
    expected = [
        f"{refs_file}: ref 1, sent_id 1: sentence is not a string (int 7)",
        f"{refs_file}: ref 1, sent_id 2: sentence is not a string (NoneType None)",
        f"{refs_file}: ref 5, sent_id 8: sentence is not a string (bytes b'big triangle')",
        f"{refs_file}: ref 5, sent_id 9: sentence is empty or blank ('  ')",
        f"{refs_file}: sent_id 1: sent_id appears more than once (in ref 1 and in ref 5)",
        f"{refs_file}: ref 7: ref has no sentences (sentences = [])",
        f"{refs_file}: ref 5: ref_id appears more than once (entries 1 and 6 of the split)",
        f"{refs_file}: ref 9: annotation belongs to another image (ann_id 2 is on image "
        '101, the ref on image 103)',
        f"'{instances}': annotations entry 5: annotations entry lacks keys (['id']",
        f"'{instances}': annotation 5 (ref 5): polygon has an odd number of coordinates "
        '(polygon 0 has 5)',
        f"'{instances}': annotation 3 (ref 8): RLE size is not the image size ([24, 32] vs "
        '[28, 36])',
        f"'{instances}': annotation 4 (ref 10): RLE counts do not sum to height x width "
        '(1013 vs 28 x 36 = 1008)',
    ]
    for line in expected:
        assert line in message
    assert message.startswith(f"ReferDataset split 'train' of '{ann_file}': {len(expected)} "
                              'invalid entries')
    assert len(info.value.problems) == len(expected)

    with LogRecords() as records:
        dataset = ReferDataset(data_root=refer['data_root'], ann_file=ann_file,
                               instances_file=instances, split='train', on_invalid='skip')
    # Only ref 11 is left: ref 1 has no valid sentence left, the others are broken.
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(d['ref_id'], d['sent_id']) for d in infos] == [(11, 54)]
    note = next(m for m in records.messages if "on_invalid='skip'" in m)
    assert f'{len(expected)} problems' in note and 'sentence is not a string' in note


def test_empty_ground_truth_masks_are_kept_and_counted(refer, tmp_path):
    """``[]``-like and 2-point polygons: evaluation keeps them and logs the count."""
    def edit(instances, anns):
        anns[2]['segmentation'] = [[1, 1, 30, 2], []]  # ref 2: 2 sentences in val
    instances = with_instances(refer, tmp_path, edit)
    with LogRecords() as records:
        dataset = ReferDataset(data_root=refer['data_root'], instances_file=instances,
                               split='val', test_mode=True)
        ReferDataset(data_root=refer['data_root'], instances_file=instances, split='val')
    infos = map(dataset.get_data_info, range(len(dataset)))  # one per image
    assert sum(len(info['expressions']) for info in infos) == 3
    notes = [m for m in records.messages if 'empty ground-truth mask' in m]
    assert len(notes) == 1  # evaluation only: training reads no mask
    assert '2 of 3 evaluation sentences (1 annotations' in notes[0]
    assert 'annotations [2]' in notes[0] and 'IoU 1 if the prediction is empty' in notes[0]


def test_ref_without_sentences_under_train_sample_ref(refer, tmp_path):
    ann_file = with_refs(refer, tmp_path, lambda refs: refs[4].update(sentences=[]))
    with pytest.raises(InvalidDataError, match=r"'.*refs\(edited\).p': ref 5: ref has no "
                                               r'sentences \(sentences = \[\]\)'):
        ReferDataset(data_root=refer['data_root'], ann_file=ann_file, split='train',
                     train_sample='ref')
    dataset = ReferDataset(data_root=refer['data_root'], ann_file=ann_file, split='train',
                           train_sample='ref', on_invalid='skip')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [d['ref_id'] for d in infos] == [1]
    assert {dataset.get_data_info(0)['sent_id'] for _ in range(20)} == {1, 2}


def test_split_left_empty_fails_at_build(refer, tmp_path):
    def edit(refs):
        for ref in refs:
            if ref['split'] == 'testA':
                ref['sentences'][0]['sent'] = ''
    ann_file = with_refs(refer, tmp_path, edit)
    with pytest.raises(ValueError, match=r"split 'testA' of refs file '.*refs\(edited\).p' "
                                         'has no samples left after dropping the invalid'):
        ReferDataset(data_root=refer['data_root'], ann_file=ann_file, split='testA',
                     on_invalid='skip')


def test_empty_refs_file_lists_no_split(refer, tmp_path):
    ann_file = with_refs(refer, tmp_path, lambda refs: refs.clear())
    with pytest.raises(ValueError, match=r"split 'train' not in refs file '.*'; it has \[\]"):
        ReferDataset(data_root=refer['data_root'], ann_file=ann_file, split='train')


def test_zero_size_image_and_missing_file_name(refer, tmp_path):
    def edit(instances, anns):
        instances['images'][0].update(width=0)          # image 101: ref 1 in train
        del instances['images'][2]['file_name']         # image 103: ref 5
    instances = with_instances(refer, tmp_path, edit)
    with pytest.raises(InvalidDataError) as info:
        ReferDataset(data_root=refer['data_root'], instances_file=instances, split='train')
    message = str(info.value)
    assert (f"'{instances}': image 101 (ref 1): image height and width are not integers "
            'in [1, 100000] (30 x 0)') in message
    assert f"'{instances}': image 103 (ref 5): image has no file_name (None)" in message


def test_on_invalid_must_be_raise_or_skip(refer):
    with pytest.raises(ValueError, match=r"on_invalid must be one of \('raise', 'skip'\), "
                                         "got 'ignore'"):
        ReferDataset(data_root=refer['data_root'], split='train', on_invalid='ignore')
