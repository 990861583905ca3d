"""Cost of the build-time data checks on a RefCOCO-sized refer set, in one process.

python tools/analysis_tools/benchmark_data_checks.py [--refs 50000] [--sentences 142000]

Writes a refer-format set of that size (random polygons of 10-40 points on 640 x 480
images, one annotation per ref) to a temporary folder, builds ``ReferDataset`` on it
in training and in test mode, with its checks and without them (replaced by a
pass-through), and reports each build's time beside the time of reading the two files
alone, and the time of ``check_segmentations`` over all the masks.
Times are CPU seconds of this (single-threaded) process, which other processes on the
machine disturb less than wall-clock time; the wall-clock time is given beside.
"""
import argparse
import json
import os.path as osp
import pickle
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402

from sgseg.datasets import ReferDataset, load_refs  # noqa: E402
from sgseg.datasets.validation import check_segmentations  # noqa: E402


def write_set(root: str, num_refs: int, num_sentences: int, seed: int = 0) -> None:
    """A refer set of ``num_refs`` refs with ``num_sentences`` sentences in all."""
    rng = np.random.default_rng(seed)
    num_images = max(1, num_refs // 2)
    images = [dict(id=i, file_name=f'{i}.jpg', height=480, width=640)
              for i in range(num_images)]
    anns, refs = [], []
    per_ref = np.full(num_refs, num_sentences // num_refs)
    per_ref[:num_sentences - per_ref.sum()] += 1
    sent_id = 0
    for ref_id in range(num_refs):
        image_id = ref_id % num_images
        points = rng.integers(10, 41)
        centre = rng.uniform([60, 60], [580, 420])
        angles = np.sort(rng.uniform(0, 2 * np.pi, points))
        radius = rng.uniform(10, 60, points)
        xy = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radius[:, None]
        anns.append(dict(id=ref_id, image_id=image_id, category_id=1, iscrowd=0,
                         segmentation=[np.round(xy, 2).ravel().tolist()]))
        sentences = []
        for _ in range(per_ref[ref_id]):
            sentences.append(dict(sent_id=sent_id, sent=f'the object number {sent_id}',
                                  raw='', tokens=[]))
            sent_id += 1
        refs.append(dict(ref_id=ref_id, ann_id=ref_id, image_id=image_id, category_id=1,
                         split='train' if ref_id % 10 else 'val', sentences=sentences))
    with open(osp.join(root, 'instances.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=1, name='thing')]), f)
    with open(osp.join(root, 'refs(unc).p'), 'wb') as f:
        pickle.dump(refs, f, protocol=2)


def timed(fn):
    """``fn()``, its CPU seconds and its wall-clock seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--refs', type=int, default=50000)
    parser.add_argument('--sentences', type=int, default=142000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        write_set(root, args.refs, args.sentences)

        def read_files():
            with open(osp.join(root, 'instances.json')) as f:
                data = json.load(f)
            return data, load_refs(osp.join(root, 'refs(unc).p'))

        (data, refs), t_read, w_read = timed(read_files)
        sizes = {img['id']: (img['height'], img['width']) for img in data['images']}
        segs = [ann['segmentation'] for ann in data['annotations']]
        issues, t_masks, w_masks = timed(lambda: check_segmentations(
            segs, [sizes[ann['image_id']] for ann in data['annotations']]))
        assert not any(issues)
        print(f'{args.refs} refs, {args.sentences} sentences, '
              f'{sum(len(s[0]) for s in segs) // 2} polygon points')
        print(f'read instances.json + refs pickle: {t_read:6.2f} s CPU ({w_read:.2f} s wall)')
        print(f'check_segmentations, {len(segs)} masks: {t_masks:6.2f} s CPU '
              f'({w_masks:.2f} s wall)')
        checks = ReferDataset._check_refs
        for split, test_mode in (('train', False), ('val', True)):
            for checked in (True, False):
                # Without: the checks replaced by a pass-through, as before they existed.
                ReferDataset._check_refs = checks if checked else \
                    (lambda self, refs, coco, problems: refs)
                dataset, t_build, w_build = timed(lambda: ReferDataset(
                    data_root=root, split=split, test_mode=test_mode,
                    data_prefix=dict(img_path='images')))
                print(f"ReferDataset {split} (test_mode={test_mode}) "
                      f"{'with' if checked else 'without'} checks, {len(dataset)} samples: "
                      f'{t_build:.2f} s CPU ({w_build:.2f} s wall)')
        ReferDataset._check_refs = checks


if __name__ == '__main__':
    main()
