"""Refer-format datasets: RefCOCO, RefCOCO+ and G-Ref over COCO ``instances.json``."""
import os.path as osp
import pickle
from collections import Counter
from typing import Dict, List, Optional, Sequence

import numpy as np
from pycocotools.coco import COCO

from sgseg.registry import DATASETS
from .base import RefSegDataset

# RefCOCO / RefCOCO+ have no plain 'test' split: their test set is testA (people) and
# testB (objects) together.
_TEST_PARTS = ('testA', 'testB')


def load_refs(path: str) -> List[dict]:
    """Read a refer ``refs(<split_by>).p`` pickle.

    The released pickles were written by Python 2: their strings are byte strings
    that Python 3 decodes as ASCII by default and fails on the few non-ASCII
    sentences, hence the latin-1 retry (every byte maps to one code point, so no
    sentence is lost).

    Args:
        path: the pickle file.

    Returns:
        The list of refs, each a dict with ``ref_id, ann_id, image_id,
        category_id, split, sentences, ...``.
    """
    with open(path, 'rb') as f:
        try:
            return pickle.load(f)
        except UnicodeDecodeError:
            f.seek(0)
            return pickle.load(f, encoding='latin1')


@DATASETS.register_module()
class ReferDataset(RefSegDataset):
    """RefCOCO, RefCOCO+ and G-Ref (the refer releases) over COCO images.

    A ref is one object (a COCO annotation) with one or more sentences. Training
    samples are (image, sentence) pairs and carry no mask; evaluation sentences carry
    the annotation's ``segmentation`` (COCO polygons or RLE) with the image's
    ``height``/``width`` for :class:`LoadRefMask`, and are grouped by image (one
    sample per image, see :class:`RefSegDataset`).

    Each sentence holds ``img_path, text, sent_id, ref_id, ann_id, image_id,
    category_id, split, height, width`` (+ ``segmentation`` in test mode); grouped by
    image, a ``data_list`` item holds ``img_path, image_id, height, width`` and
    ``expressions``, the list of its sentences' other fields. With
    ``train_sample='ref'`` a training item holds ``sentences`` (a list of
    ``(sent_id, text)``) instead of ``text``/``sent_id``, and :meth:`get_data_info`
    draws one each time the sample is fetched.

    Args:
        ann_file: the refs pickle, e.g. ``'refs(unc).p'`` (RefCOCO, RefCOCO+),
            ``'refs(umd).p'`` or ``'refs(google).p'`` (G-Ref); relative to
            ``data_root``.
        split: ``'train'``, ``'val'``, ``'test'``, ``'testA'`` or ``'testB'``
            (whichever the refs file has). ``'test'`` on a file without a plain
            test split (RefCOCO, RefCOCO+) means testA and testB together.
        instances_file: COCO instances json, relative to ``data_root``.
        data_prefix: ``dict(img_path=...)``, the image folder, relative to
            ``data_root`` (or absolute).
        train_sample: ``'sentence'`` (one sample per sentence) or ``'ref'`` (one
            sample per ref, its sentence drawn at random on every fetch). Only used
            when ``test_mode`` is False.
        text_key: the sentence field to use: ``'sent'`` (lower-cased, cleaned) or
            ``'raw'`` (as written by the annotator).
        **kwargs: passed to :class:`RefSegDataset` (``group_by_image``) and
            :class:`mmengine.dataset.BaseDataset` (``data_root``, ``pipeline``,
            ``test_mode``, ``indices``, ...).
    """

    METAINFO = dict(classes=('background', 'referred'), palette=[[0, 0, 0], [255, 0, 0]])

    def __init__(self,
                 ann_file: str = 'refs(unc).p',
                 split: str = 'train',
                 instances_file: str = 'instances.json',
                 data_prefix: Optional[Dict[str, str]] = None,
                 train_sample: str = 'sentence',
                 text_key: str = 'sent',
                 **kwargs) -> None:
        if train_sample not in ('sentence', 'ref'):
            raise ValueError(
                f"train_sample must be 'sentence' or 'ref', got {train_sample!r}")
        if text_key not in ('sent', 'raw'):
            raise ValueError(f"text_key must be 'sent' or 'raw', got {text_key!r}")
        # Set before BaseDataset.__init__, which loads the data list.
        self.split = split
        self.train_sample = train_sample
        self.text_key = text_key
        self._refs_name = ann_file
        data_root = kwargs.get('data_root', '') or ''
        self.instances_file = instances_file if osp.isabs(instances_file) \
            else osp.join(data_root, instances_file)
        super().__init__(
            ann_file=ann_file,
            data_prefix=data_prefix or dict(img_path='train2014'),
            **kwargs)

    def load_sentence_list(self) -> List[dict]:
        """Read the refs and instances files and build the sentences of ``split``.

        Returns:
            One dict per sentence, or per ref with ``train_sample='ref'`` (see the
            class docstring).
        """
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f"refs file '{self._refs_name}' not found under "
                f"{osp.join(self.data_root or '', '')} (looked for {self.ann_file})")
        if not osp.isfile(self.instances_file):
            raise FileNotFoundError(
                f"instances file '{self.instances_file}' not found (key "
                "'instances_file', relative to data_root)")
        refs = self._select_split(load_refs(self.ann_file))
        coco = COCO(self.instances_file)
        with_mask = self.test_mode
        per_ref = not self.test_mode and self.train_sample == 'ref'

        data_list = []
        for ref in refs:
            base = self._parse_ref(ref, coco, with_mask)
            sentences = [(s['sent_id'], s[self.text_key]) for s in ref['sentences']]
            if per_ref:
                data_list.append(dict(base, sentences=sentences))
            else:
                data_list.extend(
                    dict(base, sent_id=sent_id, text=text) for sent_id, text in sentences)
        return data_list

    def _select_split(self, refs: Sequence[dict]) -> List[dict]:
        """Keep the refs of ``self.split``.

        Args:
            refs: every ref of the refs file.

        Returns:
            The refs of the split, in file order.
        """
        present = Counter(ref['split'] for ref in refs)
        if self.split in present:
            wanted = {self.split}
        elif self.split == 'test' and any(p in present for p in _TEST_PARTS):
            wanted = set(_TEST_PARTS)
        else:
            raise ValueError(
                f"split '{self.split}' not in refs file '{self.ann_file}'; it has "
                f"{sorted(present)}")
        return [ref for ref in refs if ref['split'] in wanted]

    def _parse_ref(self, ref: dict, coco: COCO, with_mask: bool) -> dict:
        """Turn one ref into the fields its samples share.

        Args:
            ref: a ref from the refs pickle.
            coco: the instances file.
            with_mask: whether to carry the annotation's ``segmentation``.

        Returns:
            The sample fields without ``text``/``sent_id``.
        """
        ref_id, ann_id, image_id = ref['ref_id'], ref['ann_id'], ref['image_id']
        if ann_id not in coco.anns:
            raise KeyError(
                f"ref {ref_id} points at annotation {ann_id}, which is not in "
                f"'{self.instances_file}'")
        if image_id not in coco.imgs:
            raise KeyError(
                f"ref {ref_id} points at image {image_id}, which is not in "
                f"'{self.instances_file}'")
        img = coco.imgs[image_id]
        item = dict(
            # The ref's own 'file_name' (COCO_train2014_<id>_<n>.jpg) names no file:
            # the image file is the one instances.json lists.
            img_path=osp.join(self.data_prefix['img_path'], img['file_name']),
            ref_id=ref_id,
            ann_id=ann_id,
            image_id=image_id,
            category_id=ref['category_id'],
            split=ref['split'],
            height=img['height'],
            width=img['width'])
        if with_mask:
            ann = coco.anns[ann_id]
            if 'segmentation' not in ann:
                raise KeyError(
                    f"annotation {ann_id} (ref {ref_id}) in '{self.instances_file}' "
                    "has no 'segmentation'; evaluation needs the mask")
            item['segmentation'] = ann['segmentation']
        return item

    def get_data_info(self, idx: int) -> dict:
        """Return sample ``idx``; for ``train_sample='ref'``, with a sentence drawn.

        The draw uses numpy's global generator, which the runner seeds and
        mmengine's ``worker_init_fn`` reseeds per dataloader worker (a generator
        owned by the dataset would be copied into every worker and repeat the
        same draws).

        Args:
            idx: the sample index.

        Returns:
            The sample dict, always with ``text`` and ``sent_id``.
        """
        info = super().get_data_info(idx)
        if 'sentences' in info:
            sentences = info.pop('sentences')
            info['sent_id'], info['text'] = sentences[np.random.randint(len(sentences))]
        return info
