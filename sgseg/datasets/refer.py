"""Refer-format datasets: RefCOCO, RefCOCO+ and G-Ref over COCO ``instances.json``."""
import json
import logging
import os.path as osp
import pickle
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence, Set, Tuple

from mmengine.logging import print_log
from pycocotools.coco import COCO

from sgseg.registry import DATASETS
from .base import RefSegDataset
from .validation import (DataProblem, check_image_size, check_on_invalid,
                         check_segmentations, check_sentence, decode_py2_strings,
                         first_duplicates, report_problems, segmentation_areas)

# RefCOCO / RefCOCO+ have no plain 'test' split: their test set is testA (people) and
# testB (objects) together.
_TEST_PARTS = ('testA', 'testB')
# The keys a ref needs (the release's refs have a few more, unused).
_REF_KEYS = ('ref_id', 'ann_id', 'image_id', 'category_id', 'split', 'sentences')


def load_refs(path: str) -> List[dict]:
    """Read a refer ``refs(<split_by>).p`` pickle.

    The released pickles were written by Python 2, whose ``str`` values are byte
    strings holding UTF-8 text. They are read as UTF-8; if some string is not valid
    UTF-8 the file is read again with its strings as bytes and each one decoded on
    its own, as UTF-8 and else as latin-1 (which maps every byte to a code point,
    so no sentence is lost). Python 3 pickles are read as they are.

    Args:
        path: the pickle file.

    Returns:
        The list of refs, each a dict with ``ref_id, ann_id, image_id,
        category_id, split, sentences, ...``.

    Raises:
        ValueError: the file is not a readable pickle (truncated, another format).
    """
    with open(path, 'rb') as f:
        try:
            try:
                return pickle.load(f, encoding='utf-8')
            except UnicodeDecodeError:
                f.seek(0)
                return decode_py2_strings(pickle.load(f, encoding='bytes'))
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
                ValueError) as e:
            raise ValueError(f"refs file '{path}' is not a readable pickle "
                             f'({type(e).__name__}: {e})') from e


def _refs_named(refs: Sequence[dict], positions: Sequence[int]) -> str:
    """``'ref 3'`` or ``'refs 3, 6'`` (the first five) for messages."""
    ids = [str(refs[p]['ref_id']) for p in positions]
    more = ', ...' if len(ids) > 5 else ''
    return f"ref{'s' if len(ids) > 1 else ''} {', '.join(ids[:5])}{more}"


class _Findings:
    """The problems found in a split and the refs / sentences they make invalid."""

    def __init__(self, problems: List[DataProblem]) -> None:
        self.problems = problems
        self.bad_refs: Set[int] = set()
        self.bad_sents: Set[Tuple[int, int]] = set()

    def add(self, file: str, where: str, kind: str, detail: str = '', *,
            ref: Optional[int] = None, refs: Sequence[int] = (),
            sent: Optional[int] = None) -> None:
        """Record a problem of sentence ``sent`` of ref ``ref``, or of whole refs."""
        self.problems.append(DataProblem(file, where, kind, detail))
        if sent is not None:
            self.bad_sents.add((ref, sent))
        else:
            self.bad_refs.update([ref] if ref is not None else refs)


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
        on_invalid: what to do with invalid entries found when the dataset is
            built (:meth:`_check_refs`): ``'raise'`` one
            :class:`~sgseg.datasets.validation.InvalidDataError` listing every
            problem, or ``'skip'``: drop the invalid sentences (and refs) and log
            how many and why.
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
                 on_invalid: str = 'raise',
                 **kwargs) -> None:
        if train_sample not in ('sentence', 'ref'):
            raise ValueError(
                f"train_sample must be 'sentence' or 'ref', got {train_sample!r}")
        if text_key not in ('sent', 'raw'):
            raise ValueError(f"text_key must be 'sent' or 'raw', got {text_key!r}")
        check_on_invalid(on_invalid)
        # Set before BaseDataset.__init__, which loads the data list.
        self.split = split
        self.train_sample = train_sample
        self.text_key = text_key
        self.on_invalid = on_invalid
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
        problems: List[DataProblem] = []
        refs = self._select_split(load_refs(self.ann_file), problems)
        coco = self._load_instances(problems)
        refs = self._check_refs(refs, coco, problems)
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
        if not data_list:
            raise ValueError(
                f"split '{self.split}' of refs file '{self.ann_file}' has no samples"
                + (' left after dropping the invalid ones' if problems else ''))
        return data_list

    def _select_split(self, refs: Sequence[dict],
                      problems: List[DataProblem]) -> List[dict]:
        """Keep the refs of ``self.split``.

        Args:
            refs: every ref of the refs file.
            problems: where a ref that is not a dict with a ``split`` is reported.

        Returns:
            The refs of the split, in file order.
        """
        if not isinstance(refs, list):
            raise ValueError(f"refs file '{self.ann_file}' holds a "
                             f'{type(refs).__name__}, not a list of refs')
        present = Counter()
        for pos, ref in enumerate(refs):
            if isinstance(ref, dict) and isinstance(ref.get('split'), str):
                present[ref['split']] += 1
            else:
                where = f"ref {ref.get('ref_id')}" if isinstance(ref, dict) else ''
                problems.append(DataProblem(
                    self.ann_file, f'{where} (entry {pos})'.strip(),
                    'ref is not a dict with a string split',
                    f'{type(ref).__name__} {ref!r:.80}'))
        if self.split in present:
            wanted = {self.split}
        elif self.split == 'test' and any(p in present for p in _TEST_PARTS):
            wanted = set(_TEST_PARTS)
        else:
            raise ValueError(
                f"split '{self.split}' not in refs file '{self.ann_file}'; it has "
                f"{sorted(present)}")
        return [ref for ref in refs
                if isinstance(ref, dict) and ref.get('split') in wanted]

    def _load_instances(self, problems: List[DataProblem]) -> COCO:
        """Read ``instances_file`` and index it, reporting entries that cannot be.

        pycocotools indexes images and annotations by ``id`` (and annotations by
        ``image_id``) with no check; entries without them are reported in
        ``problems`` and left out of the index. The segmentations are not read here.

        Returns:
            The indexed instances.
        """
        path = self.instances_file
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"instances file '{path}' is not valid JSON: {e}") from e
        if not isinstance(data, dict) or not all(
                isinstance(data.get(k), list) for k in ('images', 'annotations')):
            raise ValueError(f"instances file '{path}' is not a COCO dict with 'images' "
                             f"and 'annotations' lists (it holds a {type(data).__name__})")
        for section, keys in (('images', ('id', )),
                              ('annotations', ('id', 'image_id', 'category_id'))):
            kept = []
            for pos, entry in enumerate(data[section]):
                missing = [k for k in keys
                           if not isinstance(entry, dict) or k not in entry]
                if missing:
                    problems.append(DataProblem(
                        path, f'{section} entry {pos}', f'{section} entry lacks keys',
                        f'{missing}: {entry!r:.80}'))
                else:
                    kept.append(entry)
            data[section] = kept
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
        return coco

    def _check_refs(self, refs: List[dict], coco: COCO,
                    problems: List[DataProblem]) -> List[dict]:
        """Check the refs of the split, their sentences, annotations and images.

        Checked for every ref (each check in its own method below): the keys it
        needs and unique ``ref_id``; at least one sentence, each a dict with a
        ``sent_id`` (int or str, unique over the split) and a non-blank string;
        its annotation and image are in the instances file and the annotation is
        on that image; the image has a ``file_name`` and a size in [1, 100000];
        the annotation's ``segmentation`` (required in test mode) is well formed
        (:func:`~sgseg.datasets.validation.check_segmentations`). Nothing is
        decoded: no pycocotools call sees an annotation before it passed. In test
        mode, empty ground-truth masks are counted and logged.

        Args:
            refs: the refs of the split.
            coco: the instances file.
            problems: every problem found so far; the checks add theirs and all
                are reported at once (raised, or logged with ``'skip'``).

        Returns:
            The refs to build samples from: all of them when nothing is wrong; with
            ``on_invalid='skip'`` the valid ones, holding only their valid
            sentences.
        """
        found = _Findings(problems)
        self._check_ref_keys(refs, found)
        self._check_sentences(refs, found)
        users = self._check_links(refs, coco, found)
        self._check_masks(refs, coco, users, found)
        kept = self._drop_invalid(refs, found)
        if self.test_mode:
            self._log_empty_masks(kept, coco)
        return kept

    def _check_ref_keys(self, refs: List[dict], found: '_Findings') -> None:
        """The keys a ref needs, its ids' types, a unique ``ref_id``."""
        for pos, ref in enumerate(refs):
            missing = [k for k in _REF_KEYS if k not in ref]
            if missing:
                found.add(self.ann_file, f"ref {ref.get('ref_id')}", 'ref lacks keys',
                          str(missing), ref=pos)
                continue
            for key in ('ref_id', 'ann_id', 'image_id'):
                if isinstance(ref[key], bool) or not isinstance(ref[key], (int, str)):
                    found.add(self.ann_file, f"ref {ref['ref_id']!s:.40}",
                              f'{key} is not an int or a string', f'{ref[key]!r:.40}',
                              ref=pos)
        checked = [pos for pos in range(len(refs)) if pos not in found.bad_refs]
        for first, later in first_duplicates(refs[p]['ref_id'] for p in checked):
            first, later = checked[first], checked[later]
            found.add(self.ann_file, f"ref {refs[later]['ref_id']}",
                      'ref_id appears more than once',
                      f'entries {first} and {later} of the split', ref=later)

    def _check_sentences(self, refs: List[dict], found: '_Findings') -> None:
        """At least one sentence per ref; each a non-blank string with a unique id."""
        text_key = self.text_key
        sent_ids = []  # (pos, j, sent_id) of every sentence with a usable sent_id
        for pos, ref in enumerate(refs):
            if pos in found.bad_refs:
                continue
            sents = ref['sentences']
            if not isinstance(sents, list) or not sents:
                found.add(self.ann_file, f"ref {ref['ref_id']}", 'ref has no sentences',
                          f'sentences = {sents!r:.60}', ref=pos)
                continue
            for j, sent in enumerate(sents):
                where = f"ref {ref['ref_id']}, sentence {j}"
                if not isinstance(sent, dict) or 'sent_id' not in sent \
                        or text_key not in sent:
                    found.add(self.ann_file, where,
                              f"sentence is not a dict with 'sent_id' and '{text_key}'",
                              f'{sent!r:.80}', ref=pos, sent=j)
                    continue
                sent_id = sent['sent_id']
                if isinstance(sent_id, bool) or not isinstance(sent_id, (int, str)):
                    found.add(self.ann_file, where, 'sent_id is not an int or a string',
                              f'{sent_id!r:.40}', ref=pos, sent=j)
                    continue
                sent_ids.append((pos, j, sent_id))
                issue = check_sentence(sent[text_key])
                if issue:
                    found.add(self.ann_file, f"ref {ref['ref_id']}, sent_id {sent_id}",
                              *issue, ref=pos, sent=j)
        for first, later in first_duplicates(s[2] for s in sent_ids):
            (pos0, _, sent_id), (pos, j, _) = sent_ids[first], sent_ids[later]
            found.add(self.ann_file, f'sent_id {sent_id}',
                      'sent_id appears more than once',
                      f"in ref {refs[pos0]['ref_id']} and in ref {refs[pos]['ref_id']}",
                      ref=pos, sent=j)

    def _check_links(self, refs: List[dict], coco: COCO,
                     found: '_Findings') -> Dict[int, List[int]]:
        """Each ref's annotation and image exist, the annotation on that image; the
        image entries have a file name and a size.

        Returns:
            ``{ann_id: positions of the refs that use it}``, for the refs that
            passed.
        """
        users = defaultdict(list)
        categories = 0
        for pos, ref in enumerate(refs):
            if pos in found.bad_refs:
                continue
            where = f"ref {ref['ref_id']}"
            ann = coco.anns.get(ref['ann_id'])
            if ann is None:
                found.add(self.ann_file, where, 'annotation is not in the instances file',
                          f"ann_id {ref['ann_id']} not in '{self.instances_file}'",
                          ref=pos)
            if ref['image_id'] not in coco.imgs:
                found.add(self.ann_file, where, 'image is not in the instances file',
                          f"image_id {ref['image_id']} not in '{self.instances_file}'",
                          ref=pos)
            elif ann is not None and ann['image_id'] != ref['image_id']:
                found.add(self.ann_file, where, 'annotation belongs to another image',
                          f"ann_id {ref['ann_id']} is on image {ann['image_id']}, the "
                          f"ref on image {ref['image_id']}", ref=pos)
            if pos not in found.bad_refs:
                categories += ann['category_id'] != ref['category_id']
                users[ref['ann_id']].append(pos)
        if categories:
            print_log(f'{self._name()}: {categories} refs have another category_id than '
                      "their annotation; the ref's is used", logger='current',
                      level=logging.WARNING)

        on_image = defaultdict(list)
        for ann_id, positions in users.items():
            on_image[coco.anns[ann_id]['image_id']].extend(positions)
        for image_id, positions in on_image.items():
            img = coco.imgs[image_id]
            file_name = img.get('file_name')
            issues = [check_image_size(img.get('height'), img.get('width'))]
            if not isinstance(file_name, str) or not file_name:
                issues.append(('image has no file_name', f'{file_name!r:.60}'))
            for issue in filter(None, issues):
                found.add(self.instances_file,
                          f'image {image_id} ({_refs_named(refs, positions)})', *issue,
                          refs=positions)
        return {ann_id: positions for ann_id, positions in users.items()
                if not found.bad_refs.intersection(positions)}

    def _check_masks(self, refs: List[dict], coco: COCO, users: Dict[int, List[int]],
                     found: '_Findings') -> None:
        """Each used annotation's segmentation, all at once, without decoding."""
        ann_ids, sizes = [], []
        for ann_id, positions in users.items():
            ann = coco.anns[ann_id]
            img = coco.imgs[ann['image_id']]
            if 'segmentation' in ann:
                ann_ids.append(ann_id)
                sizes.append((img['height'], img['width']))
            elif self.test_mode:
                found.add(self.instances_file,
                          f'annotation {ann_id} ({_refs_named(refs, positions)})',
                          "annotation has no 'segmentation'", 'evaluation needs the mask',
                          refs=positions)
        segmentations = [coco.anns[a]['segmentation'] for a in ann_ids]
        for ann_id, issues in zip(ann_ids, check_segmentations(segmentations, sizes)):
            for issue in issues:
                found.add(self.instances_file,
                          f'annotation {ann_id} ({_refs_named(refs, users[ann_id])})',
                          *issue, refs=users[ann_id])

    def _drop_invalid(self, refs: List[dict], found: '_Findings') -> List[dict]:
        """Report the problems; return the refs without the invalid ones.

        A ref whose sentences are all invalid is dropped too.
        """
        kept, dropped = [], 0
        for pos, ref in enumerate(refs):
            sents = ref.get('sentences') if isinstance(ref.get('sentences'), list) else []
            good = [s for j, s in enumerate(sents)
                    if pos not in found.bad_refs and (pos, j) not in found.bad_sents]
            dropped += len(sents) - len(good)
            if good:
                kept.append(ref if len(good) == len(sents) else dict(ref, sentences=good))
        report_problems(self._name(), found.problems, self.on_invalid,
                        num_dropped=dropped,
                        num_kept=sum(len(r['sentences']) for r in kept))
        return kept

    def _log_empty_masks(self, refs: List[dict], coco: COCO) -> None:
        """Log the evaluation sentences whose ground-truth mask is empty.

        Such a target (``[]``, polygons under 3 points, a polygon with no pixel
        inside, an all-zero RLE) is kept: :class:`RefSegMetric` scores it IoU 1 if
        the prediction is empty too and 0 otherwise, and a PointM miss.
        """
        ann_ids = sorted({ref['ann_id'] for ref in refs})
        sizes = [(coco.imgs[coco.anns[a]['image_id']]['height'],
                  coco.imgs[coco.anns[a]['image_id']]['width']) for a in ann_ids]
        areas = segmentation_areas([coco.anns[a]['segmentation'] for a in ann_ids], sizes)
        empty = {a for a, area in zip(ann_ids, areas) if area == 0}
        if not empty:
            return
        num = sum(len(ref['sentences']) for ref in refs if ref['ann_id'] in empty)
        total = sum(len(ref['sentences']) for ref in refs)
        listed = sorted(empty)[:20]
        print_log(
            f'{self._name()}: {num} of {total} evaluation sentences ({len(empty)} '
            f"annotations of '{self.instances_file}') have an empty ground-truth mask: "
            f"annotations {listed}{' ...' if len(empty) > len(listed) else ''}. They "
            'are kept; RefSegMetric scores each IoU 1 if the prediction is empty too, '
            'else 0, and a PointM miss.', logger='current', level=logging.WARNING)

    def _name(self) -> str:
        """Names the dataset in messages."""
        return f"ReferDataset split '{self.split}' of '{self.ann_file}'"

    def _parse_ref(self, ref: dict, coco: COCO, with_mask: bool) -> dict:
        """Turn one ref into the fields its samples share.

        Args:
            ref: a ref from the refs pickle, checked by :meth:`_check_refs`.
            coco: the instances file.
            with_mask: whether to carry the annotation's ``segmentation``.

        Returns:
            The sample fields without ``text``/``sent_id``.
        """
        ref_id, ann_id, image_id = ref['ref_id'], ref['ann_id'], ref['image_id']
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
            item['segmentation'] = coco.anns[ann_id]['segmentation']
        return item
