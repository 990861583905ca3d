"""PhraseCut (VGPhraseCut v0): referring phrases over Visual Genome images."""
import os.path as osp
from typing import Dict, List, Optional

from mmengine.fileio import load

from sgseg.registry import DATASETS
from .base import RefSegDataset


def phrasecut_to_coco_polygons(
        polygons: List[List[List[List[float]]]]) -> List[List[float]]:
    """Flatten PhraseCut's ``Polygons`` into COCO polygons.

    Args:
        polygons: per instance, a list of polygons, each a list of ``[x, y]`` points.

    Returns:
        One flat ``[x0, y0, x1, y1, ...]`` list per polygon, all instances together:
        the referred region is the union of the instances.
    """
    return [[float(c) for point in polygon for c in point]
            for instance in polygons for polygon in instance]


@DATASETS.register_module()
class PhraseCutDataset(RefSegDataset):
    """PhraseCut: the tasks (an image and a phrase) of a ``refer_*.json``.

    Image sizes come from the release's ``image_data_split3000.json`` (a list of dicts
    with ``image_id, width, height, ...``), so that building the dataset opens no
    image; the mask transform checks them against the loaded image. The images are
    ``<img_path>/<image_id>.jpg``.

    Each task holds ``img_path, text, sent_id, ref_id, ann_id, image_id,
    category_id, split, height, width`` (+ ``segmentation``, COCO polygons of every
    instance, in test mode). Training samples are tasks; in test mode the tasks are
    grouped by image (one sample per image with its ``expressions``, see
    :class:`RefSegDataset`). PhraseCut has no sentence, ref, annotation or category
    ids: ``sent_id`` and ``ref_id`` are the ``task_id`` (a string such as
    ``'3199__1'``), ``ann_id`` and ``category_id`` are None.

    Args:
        ann_file: the task list, e.g. ``'refer_train.json'``, relative to
            ``data_root``.
        image_info_file: the image list with sizes, relative to ``data_root``.
        data_prefix: ``dict(img_path=...)``, the image folder.
        **kwargs: passed to :class:`RefSegDataset` (``group_by_image``) and
            :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(classes=('background', 'referred'), palette=[[0, 0, 0], [255, 0, 0]])

    def __init__(self,
                 ann_file: str = 'refer_train.json',
                 image_info_file: str = 'image_data_split3000.json',
                 data_prefix: Optional[Dict[str, str]] = None,
                 **kwargs) -> None:
        data_root = kwargs.get('data_root', '') or ''
        self.image_info_file = image_info_file if osp.isabs(image_info_file) \
            else osp.join(data_root, image_info_file)
        super().__init__(
            ann_file=ann_file, data_prefix=data_prefix or dict(img_path='images'), **kwargs)

    def load_sentence_list(self) -> List[dict]:
        """Read the task list and the image sizes.

        Returns:
            One dict per task (see the class docstring).
        """
        for key, path in (('ann_file', self.ann_file),
                          ('image_info_file', self.image_info_file)):
            if not osp.isfile(path):
                raise FileNotFoundError(f"PhraseCut {key} '{path}' not found")
        sizes = {info['image_id']: (info['height'], info['width'])
                 for info in load(self.image_info_file)}
        split = osp.splitext(osp.basename(self.ann_file))[0].replace('refer_', '')

        data_list = []
        for task in load(self.ann_file):
            image_id = task['image_id']
            if image_id not in sizes:
                raise KeyError(
                    f"task {task['task_id']} points at image {image_id}, which is not "
                    f"in '{self.image_info_file}'")
            height, width = sizes[image_id]
            item = dict(
                img_path=osp.join(self.data_prefix['img_path'], f'{image_id}.jpg'),
                text=task['phrase'],
                sent_id=task['task_id'],
                ref_id=task['task_id'],
                ann_id=None,
                image_id=image_id,
                category_id=None,
                split=split,
                height=height,
                width=width)
            if self.test_mode:
                item['segmentation'] = phrasecut_to_coco_polygons(task['Polygons'])
            data_list.append(item)
        return data_list
