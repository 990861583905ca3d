"""Writers of tiny datasets in the real release formats, for tests to build on.

``write_refer_dataset`` writes a COCO ``instances.json``, a ``refs(unc).p`` and a
``refs(umd).p`` over three small images; ``write_phrasecut_dataset`` writes PhraseCut
task lists and ``image_data_split3000.json`` over two images. Both return the paths
and the number of samples per split, so a test can check counts without re-deriving
them. ``free_port`` gives a free local TCP port for tests that start process groups;
``LogRecords`` collects what sgseg logs.
"""
import json
import logging
import pickle
import socket
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pycocotools.mask as mask_utils
from mmengine.logging import MMLogger
from PIL import Image


def free_port() -> str:
    """A free TCP port on 127.0.0.1, as a string for environment variables."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


class LogRecords(logging.Handler):
    """``with LogRecords() as records:`` collects the messages of the current MMLogger
    in ``records.messages``."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> 'LogRecords':
        MMLogger.get_current_instance().addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        MMLogger.get_current_instance().removeHandler(self)


# (image_id, file name, width, height)
REFER_IMAGES: List[Tuple[int, str, int, int]] = [
    (101, 'COCO_train2014_000000000101.jpg', 40, 30),
    (102, 'COCO_train2014_000000000102.png', 36, 28),
    (103, 'COCO_train2014_000000000103.jpg', 32, 24),
]

# refs(unc).p: (ref_id, ann_id, image_id, category_id, split, sentences).
UNC_REFS = [
    (1, 1, 101, 1, 'train', ['the left square', 'small box']),
    (2, 2, 101, 2, 'val', ['two triangles', 'shapes on the right']),
    (3, 3, 102, 1, 'testA', ['top band']),
    (4, 4, 102, 3, 'testB', ['crowd at the bottom', 'the lower block']),
    (5, 5, 103, 2, 'train', ['big triangle', 'the triangle', 'pointy thing']),
    (6, 3, 102, 1, 'val', ['upper stripe']),
]
# refs(umd).p has train / val / test.
UMD_REFS = [
    (1, 1, 101, 1, 'train', ['a square on the left side of the picture']),
    (2, 2, 101, 2, 'val', ['the two triangles on the right', 'shapes at right']),
    (3, 4, 102, 3, 'test', ['the crowd of things at the bottom']),
    (4, 5, 103, 2, 'test', ['a big triangle pointing down', 'the triangle']),
]


def _box_mask(height: int, width: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def uncompressed_rle(mask: np.ndarray) -> dict:
    """Encode a mask as COCO's uncompressed RLE (column-major runs, zeros first).

    Args:
        mask: (H, W) binary mask.

    Returns:
        ``{'size': [H, W], 'counts': [int, ...]}``.
    """
    flat = mask.flatten(order='F')
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {'size': list(mask.shape), 'counts': counts}


def _annotations() -> List[dict]:
    """The five annotations: polygons, compressed RLE, uncompressed crowd RLE."""
    m3 = _box_mask(28, 36, 3, 12, 4, 20)
    rle3 = mask_utils.encode(np.asfortranarray(m3))
    rle3['counts'] = rle3['counts'].decode('ascii')  # as stored in COCO json
    m4 = _box_mask(28, 36, 15, 25, 10, 30)
    anns = [
        dict(id=1, image_id=101, category_id=1, iscrowd=0,
             segmentation=[[5, 5, 20, 5, 20, 15, 5, 15]]),
        dict(id=2, image_id=101, category_id=2, iscrowd=0,
             segmentation=[[25, 2, 35, 2, 35, 10], [25, 20, 38, 20, 38, 28, 25, 28]]),
        dict(id=3, image_id=102, category_id=1, iscrowd=0, segmentation=rle3),
        dict(id=4, image_id=102, category_id=3, iscrowd=1,
             segmentation=uncompressed_rle(m4)),
        dict(id=5, image_id=103, category_id=2, iscrowd=0,
             segmentation=[[2, 2, 30, 2, 16, 22]]),
    ]
    sizes = {image_id: (h, w) for image_id, _, w, h in REFER_IMAGES}
    for ann in anns:
        h, w = sizes[ann['image_id']]
        seg = ann['segmentation']
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w)) if isinstance(seg, list) \
            else mask_utils.frPyObjects(seg, h, w) if isinstance(seg['counts'], list) else seg
        ann['area'] = float(mask_utils.area(rle))
        ann['bbox'] = mask_utils.toBbox(rle).tolist()
    return anns


def _write_image(path: Path, width: int, height: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _refs(spec: list) -> List[dict]:
    """Build refs in the refer release's format from (ref_id, ann_id, ...) tuples."""
    refs, next_sent = [], 1
    for ref_id, ann_id, image_id, category_id, split, sents in spec:
        sentences = []
        for sent in sents:
            sentences.append(dict(tokens=sent.split(), raw=sent.capitalize() + '.',
                                  sent_id=next_sent, sent=sent))
            next_sent += 1
        refs.append(dict(
            image_id=image_id, split=split, sentences=sentences,
            # Names no file, as in the release: <image file stem>_<ann_id>.jpg
            file_name=f'COCO_train2014_{image_id:012d}_{ann_id}.jpg',
            category_id=category_id, ann_id=ann_id,
            sent_ids=[s['sent_id'] for s in sentences], ref_id=ref_id))
    return refs


def _sentences_per_split(spec: list) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for *_, split, sents in spec:
        counts[split] = counts.get(split, 0) + len(sents)
    return counts


def write_refer_dataset(root: Path, with_segmentation: bool = True,
                        img_dir: str = 'train2014') -> dict:
    """Write a tiny refer-format dataset (RefCOCO layout) under ``root``.

    Layout: ``root/instances.json``, ``root/refs(unc).p``, ``root/refs(umd).p``,
    ``root/<img_dir>/<file_name>`` (two JPEGs and one PNG).

    Args:
        root: the folder to write into (the dataset's ``data_root``).
        with_segmentation: if False, annotations have no ``segmentation`` key at all.
        img_dir: the image folder under ``root``.

    Returns:
        dict with ``data_root``, ``img_dir`` (absolute), ``instances``,
        ``refs_unc``, ``refs_umd`` (paths) and ``sentences``
        (``{'refs(unc).p': {split: n}, 'refs(umd).p': {split: n}}``).
    """
    root = Path(root)
    images_dir = root / img_dir
    images_dir.mkdir(parents=True, exist_ok=True)
    for seed, (_, name, width, height) in enumerate(REFER_IMAGES):
        _write_image(images_dir / name, width, height, seed)
    anns = _annotations()
    if not with_segmentation:
        for ann in anns:
            del ann['segmentation']
    instances = dict(
        images=[dict(id=i, file_name=n, width=w, height=h) for i, n, w, h in REFER_IMAGES],
        annotations=anns,
        categories=[dict(id=i, name=n, supercategory='thing')
                    for i, n in ((1, 'square'), (2, 'triangle'), (3, 'block'))])
    (root / 'instances.json').write_text(json.dumps(instances))
    for name, spec in (('refs(unc).p', UNC_REFS), ('refs(umd).p', UMD_REFS)):
        with open(root / name, 'wb') as f:
            pickle.dump(_refs(spec), f, protocol=2)
    return dict(
        data_root=str(root), img_dir=str(images_dir),
        instances=str(root / 'instances.json'),
        refs_unc=str(root / 'refs(unc).p'), refs_umd=str(root / 'refs(umd).p'),
        sentences={'refs(unc).p': _sentences_per_split(UNC_REFS),
                   'refs(umd).p': _sentences_per_split(UMD_REFS)})


# PhraseCut images: (image_id, width, height)
PHRASECUT_IMAGES = [(1, 40, 30), (2, 36, 28)]
PHRASECUT_TASKS = {
    'train': [
        dict(task_id='1__1', image_id=1, phrase='red car',
             Polygons=[[[[2, 2], [12, 2], [12, 10], [2, 10]]]]),
        dict(task_id='1__2', image_id=1, phrase='tall tree',
             Polygons=[[[[20, 5], [30, 5], [25, 25]]]]),
    ],
    'val': [
        # Two instances, the first in two parts: the mask is their union.
        dict(task_id='2__1', image_id=2, phrase='white clouds',
             Polygons=[[[[1, 1], [10, 1], [10, 6], [1, 6]], [[20, 1], [30, 1], [30, 6]]],
                       [[[5, 15], [15, 15], [15, 25], [5, 25]]]]),
        # A two-point polygon (no area) beside a real one.
        dict(task_id='1__3', image_id=1, phrase='the road',
             Polygons=[[[[0, 20], [39, 20]], [[0, 22], [39, 22], [39, 29], [0, 29]]]]),
    ],
}


def write_phrasecut_dataset(root: Path) -> dict:
    """Write a tiny PhraseCut release (VGPhraseCut_v0 layout) under ``root``.

    Layout: ``root/refer_{train,val}.json``, ``root/image_data_split3000.json``,
    ``root/images/<image_id>.jpg``.

    Args:
        root: the folder to write into (the dataset's ``data_root``).

    Returns:
        dict with ``data_root``, ``img_dir``, ``image_info`` and ``refer_<split>``
        paths and ``tasks`` (``{split: n}``).
    """
    root = Path(root)
    (root / 'images').mkdir(parents=True, exist_ok=True)
    for seed, (image_id, width, height) in enumerate(PHRASECUT_IMAGES):
        _write_image(root / 'images' / f'{image_id}.jpg', width, height, seed)
    (root / 'image_data_split3000.json').write_text(json.dumps([
        dict(image_id=i, width=w, height=h, split='train', coco_id=None, flickr_id=None,
             url=f'https://example.org/{i}.jpg') for i, w, h in PHRASECUT_IMAGES]))
    paths = {}
    for split, tasks in PHRASECUT_TASKS.items():
        full = []
        for task in tasks:
            boxes = []
            for instance in task['Polygons']:
                xy = np.array([p for poly in instance for p in poly], dtype=float)
                x0, y0 = xy.min(0)
                x1, y1 = xy.max(0)
                boxes.append([x0, y0, x1 - x0, y1 - y0])
            full.append(dict(task, instance_boxes=boxes, ann_ids=[],
                             phrase_structure=dict(name=task['phrase'].split()[-1])))
        path = root / f'refer_{split}.json'
        path.write_text(json.dumps(full))
        paths[f'refer_{split}'] = str(path)
    return dict(data_root=str(root), img_dir=str(root / 'images'),
                image_info=str(root / 'image_data_split3000.json'),
                tasks={s: len(t) for s, t in PHRASECUT_TASKS.items()}, **paths)
