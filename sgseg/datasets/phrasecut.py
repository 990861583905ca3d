"""PhraseCut (VGPhraseCut v0): referring phrases over Visual Genome images."""
import logging
import os.path as osp
from typing import Any, Dict, List, Optional, Set, Tuple

from mmengine.fileio import load
from mmengine.logging import print_log

from sgseg.registry import DATASETS
from .base import RefSegDataset
from .validation import (DataProblem, check_image_size, check_on_invalid,
                         check_segmentations, check_sentence, first_duplicates,
                         report_problems, segmentation_areas)


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


def _checked_polygons(polygons: Any) -> Optional[List[List[float]]]:
    """:func:`phrasecut_to_coco_polygons`, or None if ``polygons`` is not a list of
    instances, each a list of polygons, each a list of ``[x, y]`` numbers."""
    try:
        if not all(isinstance(p, (list, tuple)) and len(p) == 2
                   for instance in polygons for polygon in instance for p in polygon):
            return None
        return phrasecut_to_coco_polygons(polygons)
    except (TypeError, ValueError):
        return None


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
        on_invalid: ``'raise'`` (one error listing every invalid task, see
            :meth:`_check_tasks`) or ``'skip'`` (drop them, log how many and why).
        **kwargs: passed to :class:`RefSegDataset` (``group_by_image``) and
            :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(classes=('background', 'referred'), palette=[[0, 0, 0], [255, 0, 0]])

    def __init__(self,
                 ann_file: str = 'refer_train.json',
                 image_info_file: str = 'image_data_split3000.json',
                 data_prefix: Optional[Dict[str, str]] = None,
                 on_invalid: str = 'raise',
                 **kwargs) -> None:
        check_on_invalid(on_invalid)
        self.on_invalid = on_invalid
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
        split = osp.splitext(osp.basename(self.ann_file))[0].replace('refer_', '')
        raw_tasks = load(self.ann_file)
        tasks, sizes = self._check_tasks(raw_tasks, load(self.image_info_file))

        data_list = []
        for task, polygons in tasks:
            image_id = task['image_id']
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
                item['segmentation'] = polygons
            data_list.append(item)
        if not data_list:
            raise ValueError(f"PhraseCut ann_file '{self.ann_file}' has no tasks"
                             + (' left after dropping the invalid ones'
                                if raw_tasks else ''))
        return data_list

    def _check_tasks(self, tasks: Any, image_info: Any
                     ) -> Tuple[List[Tuple[dict, Optional[list]]], Dict[Any, tuple]]:
        """Check every task and the sizes of the images they use.

        Checked: each task is a dict with ``task_id`` (unique), ``image_id`` and
        ``phrase`` (a non-blank string); its image is in the image list with a
        size in [1, 100000]; in test mode its ``Polygons`` are instances of
        polygons of ``[x, y]`` points, finite and inside the image (see
        :func:`~sgseg.datasets.validation.check_segmentations`), and tasks with an
        empty region are counted and logged. Training reads no polygon, so they are
        not checked there.

        Args:
            tasks: the loaded ``ann_file``.
            image_info: the loaded ``image_info_file``.

        Returns:
            The tasks to use, each with its COCO polygons (None in training), and
            ``{image_id: (height, width)}``.
        """
        ann_file, info_file = self.ann_file, self.image_info_file
        for name, value in ((ann_file, tasks), (info_file, image_info)):
            if not isinstance(value, list):
                raise ValueError(f"PhraseCut file '{name}' holds a {type(value).__name__}, "
                                 'not a list')
        problems: List[DataProblem] = []
        bad: Set[int] = set()
        sizes = {info['image_id']: (info.get('height'), info.get('width'))
                 for info in image_info if isinstance(info, dict) and 'image_id' in info}

        def report(pos: int, file: str, where: str, kind: str, detail: str = '') -> None:
            problems.append(DataProblem(file, where, kind, detail))
            bad.add(pos)

        keys = ('task_id', 'image_id', 'phrase') + (('Polygons', ) * self.test_mode)
        for pos, task in enumerate(tasks):
            missing = [k for k in keys if not isinstance(task, dict) or k not in task]
            if missing:
                report(pos, ann_file, f'entry {pos}', 'task lacks keys',
                       f'{missing}: {task!r:.80}')
                continue
            where = f"task {task['task_id']!s:.40}"
            task_id = task['task_id']
            if isinstance(task_id, bool) or not isinstance(task_id, (int, str)):
                report(pos, ann_file, where, 'task_id is not an int or a string')
                continue
            issue = check_sentence(task['phrase'])
            if issue:
                report(pos, ann_file, where, *issue)
            image_id = task['image_id']
            if image_id not in sizes:
                report(pos, ann_file, where, 'image is not in the image list',
                       f"image_id {image_id!r} not in '{info_file}'")
                continue
            issue = check_image_size(*sizes[image_id])
            if issue:
                report(pos, info_file, f'image {image_id} ({where})', *issue)
        valid = [pos for pos, task in enumerate(tasks) if isinstance(task, dict)
                 and isinstance(task.get('task_id'), (int, str))]
        for first, later in first_duplicates(tasks[p]['task_id'] for p in valid):
            report(valid[later], ann_file, f"task {tasks[valid[later]]['task_id']}",
                   'task_id appears more than once',
                   f'entries {valid[first]} and {valid[later]}')

        polygons: List[Optional[list]] = [None] * len(tasks)
        if self.test_mode:
            checked = [pos for pos in range(len(tasks)) if pos not in bad]
            for pos in checked:
                polygons[pos] = _checked_polygons(tasks[pos]['Polygons'])
                if polygons[pos] is None:
                    report(pos, ann_file, f"task {tasks[pos]['task_id']}",
                           'Polygons is not a list of instances of polygons of [x, y] '
                           'points', f"{tasks[pos]['Polygons']!r:.80}")
            checked = [pos for pos in checked if pos not in bad]
            task_sizes = [sizes[tasks[pos]['image_id']] for pos in checked]
            for pos, issues in zip(checked, check_segmentations(
                    [polygons[pos] for pos in checked], task_sizes)):
                for issue in issues:
                    report(pos, ann_file, f"task {tasks[pos]['task_id']}", *issue)

        kept = [(task, polygons[pos]) for pos, task in enumerate(tasks) if pos not in bad]
        report_problems(f"PhraseCut '{ann_file}'", problems, self.on_invalid,
                        num_dropped=len(tasks) - len(kept), num_kept=len(kept))
        if self.test_mode:
            self._log_empty_masks(kept, sizes)
        return kept, sizes

    def _log_empty_masks(self, tasks: List[Tuple[dict, list]],
                         sizes: Dict[Any, tuple]) -> None:
        """Log the tasks whose region is empty (every polygon under 3 points or
        covering no pixel); they are kept and scored as RefSegMetric says."""
        areas = segmentation_areas([polygons for _, polygons in tasks],
                                   [sizes[task['image_id']] for task, _ in tasks])
        empty = [task['task_id'] for (task, _), area in zip(tasks, areas) if area == 0]
        if empty:
            print_log(
                f"PhraseCut '{self.ann_file}': {len(empty)} of {len(tasks)} evaluation "
                f"tasks have an empty ground-truth mask: {empty[:20]}"
                f"{' ...' if len(empty) > 20 else ''}. They are kept; RefSegMetric "
                'scores each IoU 1 if the prediction is empty too, else 0, and a PointM '
                'miss.', logger='current', level=logging.WARNING)
