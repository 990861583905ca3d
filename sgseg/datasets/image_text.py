"""Your own data: image–sentence pairs from a JSON-lines or CSV file.

One row names an image and one or more sentences about it, and optionally the mask of
what the sentences refer to (needed only for evaluation)::

    {"image": "photos/0001.jpg", "text": "the red mug on the left"}
    {"image": "photos/0001.jpg", "texts": ["a cat", "the sleeping cat"], "mask": "masks/0001.png"}

    image,text,mask
    photos/0001.jpg,the red mug on the left,
    photos/0002.jpg,the dog,masks/0002.png

``image`` (and a mask path) is relative to the dataset's ``data_root`` (or absolute).
A mask is a binary PNG path (any non-zero pixel is the target), a COCO RLE
(``{"size": [H, W], "counts": ...}``) or COCO polygons (``[[x0, y0, x1, y1, ...], ...]``);
in a CSV an RLE or polygons are written as JSON in the ``mask`` column. All sentences of
a row share its mask, as the sentences of a RefCOCO ref do.

Rows are checked when the file is read: every bad row is reported with its line
number in one error (:func:`read_image_text_file`).
"""
import csv
import json
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union


from sgseg.registry import DATASETS
from .base import RefSegDataset
from .validation import check_segmentations

# A mask as written in a row: a PNG path, an RLE dict or a list of polygons.
RowMask = Union[str, dict, List[List[float]]]
_MAX_ERRORS_SHOWN = 20


@dataclass
class ImageTextRow:
    """One row of an image–text file.

    Attributes:
        line: the row's line number in the file (1-based; a CSV header is line 1).
        image: the image path as written.
        texts: the row's sentences (at least one, none empty).
        mask: the row's mask as written, or None.
        extra: the row's other fields (kept by the converters, e.g. ``split``).
    """

    line: int
    image: str
    texts: List[str]
    mask: Optional[RowMask] = None
    extra: Dict[str, object] = field(default_factory=dict)


class RowError(ValueError):
    """A row that cannot be read, with its line number and the kind of problem.

    Args:
        line: the line number.
        kind: a short tag (``format``, ``empty_sentence``, ``mask_format``, ...).
        message: what is wrong.
    """

    def __init__(self, line: int, kind: str, message: str) -> None:
        super().__init__(f'line {line}: {message}')
        self.line, self.kind, self.message = line, kind, message


def _parse_mask(value: object, line: int) -> Optional[RowMask]:
    """Check the form of a row's ``mask`` (not its size: that needs the image)."""
    if value is None or value == '':
        return None
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in '[{':  # a CSV cell holding JSON
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise RowError(line, 'mask_format', f"'mask' is not valid JSON ({e})") from None
        else:
            return text
    if isinstance(value, dict):
        size, counts = value.get('size'), value.get('counts')
        if (not isinstance(size, list) or len(size) != 2
                or not all(isinstance(v, int) and v > 0 for v in size)
                or not isinstance(counts, (str, list))):
            raise RowError(line, 'mask_format',
                           "an RLE 'mask' needs 'size': [H, W] and 'counts' (string or list)")
        # counts that do not add up to H x W would make pycocotools write out of bounds
        issues = check_segmentations([value], [tuple(size)])[0]
        if issues:
            raise RowError(line, 'mask_format', f"'mask': {issues[0][0]} ({issues[0][1]})")
        return value
    if isinstance(value, list) and value and all(
            isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
            and all(isinstance(c, (int, float)) for c in p) for p in value):
        # pycocotools allocates without bound on a NaN or infinite coordinate.
        bad = next((c for p in value for c in p if not math.isfinite(c)), None)
        if bad is not None:
            raise RowError(line, 'mask_format',
                           f"the polygons of 'mask' hold a non-finite coordinate ({bad})")
        return value
    raise RowError(line, 'mask_format',
                   "'mask' must be a PNG path, an RLE {'size', 'counts'} or polygons "
                   '[[x0, y0, x1, y1, x2, y2, ...], ...] (3 points or more each)')


def parse_row(record: dict, line: int) -> ImageTextRow:
    """Check one record and turn it into an :class:`ImageTextRow`.

    Args:
        record: the JSON object (or CSV row as a dict).
        line: its line number, for errors.

    Returns:
        The row.

    Raises:
        RowError: naming the line and what is wrong.
    """
    if not isinstance(record, dict):
        raise RowError(line, 'format', f'expected a JSON object, got {type(record).__name__}')
    image = record.get('image')
    if not isinstance(image, str) or not image.strip():
        raise RowError(line, 'format', "no 'image' (the image path)")
    text, texts = record.get('text'), record.get('texts')
    if text not in (None, '') and texts not in (None, ''):
        raise RowError(line, 'format', "has both 'text' and 'texts'; give one")
    if texts in (None, ''):
        if text is None:
            raise RowError(line, 'format', "no 'text' (or 'texts', a list of sentences)")
        texts = [text]
    elif isinstance(texts, str):  # a CSV cell holding a JSON list
        try:
            texts = json.loads(texts)
        except json.JSONDecodeError:
            texts = None
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise RowError(line, 'format', "'texts' must be a non-empty list of strings")
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        which = 'the sentence is' if len(texts) == 1 else f'sentence(s) {empty} are'
        raise RowError(line, 'empty_sentence', f'{which} empty')
    extra = {k: v for k, v in record.items() if k not in ('image', 'text', 'texts', 'mask')}
    return ImageTextRow(line=line, image=image.strip(), texts=[t.strip() for t in texts],
                        mask=_parse_mask(record.get('mask'), line), extra=extra)


def _records(path: str):
    """Yield ``(line, record or exception)`` from a .jsonl/.json-lines or .csv file."""
    if path.lower().endswith('.csv'):
        with open(path, newline='', encoding='utf-8') as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or 'image' not in reader.fieldnames:
                raise ValueError(f"CSV file '{path}' needs a header with an 'image' column "
                                 f"and a 'text' (or 'texts') column; got {reader.fieldnames}")
            for record in reader:
                # ``line_num`` is the line the record ended on (a quoted cell may span lines).
                if None in record:
                    yield reader.line_num, RowError(
                        reader.line_num, 'format',
                        f'{len(reader.fieldnames) + len(record[None])} cells for '
                        f'{len(reader.fieldnames)} columns (quote cells holding commas)')
                    continue
                # An empty cell is a missing value, except an empty sentence, which
                # the row check reports as such.
                yield reader.line_num, {k: (None if v == '' and k != 'text' else v)
                                        for k, v in record.items()}
        return
    with open(path, encoding='utf-8') as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                yield line, json.loads(text)
            except json.JSONDecodeError as e:
                yield line, RowError(line, 'format', f'not valid JSON ({e.msg})')


def read_image_text_file(path: str, strict: bool = True
                         ) -> Tuple[List[ImageTextRow], List[RowError]]:
    """Read and check every row of a JSON-lines or CSV file.

    Args:
        path: the file; ``.csv`` is read as CSV, anything else as JSON lines.
        strict: raise one ``ValueError`` listing the bad rows (with line numbers)
            when there is any; otherwise return them.

    Returns:
        The good rows in file order and the errors of the bad ones.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"image-text file '{path}' not found")
    rows, errors = [], []
    for line, record in _records(path):
        try:
            if isinstance(record, RowError):
                raise record
            rows.append(parse_row(record, line))
        except RowError as e:
            errors.append(e)
    if strict and errors:
        raise ValueError(format_row_errors(path, errors))
    if strict and not rows:
        raise ValueError(f"image-text file '{path}' has no rows")
    return rows, errors


def format_row_errors(path: str, errors: List[RowError]) -> str:
    """One message listing the bad rows of ``path`` (the first 20, then a count)."""
    shown = '\n'.join(f'  {e}' for e in errors[:_MAX_ERRORS_SHOWN])
    more = (f'\n  ... and {len(errors) - _MAX_ERRORS_SHOWN} more'
            if len(errors) > _MAX_ERRORS_SHOWN else '')
    return (f"{len(errors)} bad row(s) in '{path}' (run tools/dataset_converters/"
            f"image_text.py check on it for the full list):\n{shown}{more}")


def row_mask_to_sample(mask: RowMask, mask_prefix: str) -> dict:
    """The sample fields :class:`LoadRefMask` reads for a row's mask.

    Args:
        mask: the row's mask.
        mask_prefix: the folder relative mask paths are under.

    Returns:
        ``dict(mask_path=...)`` for a PNG, ``dict(segmentation=...)`` otherwise.
    """
    if isinstance(mask, str):
        return dict(mask_path=osp.join(mask_prefix, mask))
    return dict(segmentation=mask)


@DATASETS.register_module()
class ImageTextDataset(RefSegDataset):
    """Image–sentence pairs from a JSON-lines or CSV file (see the module docstring).

    Training samples are (image, sentence) pairs and carry no mask; evaluation
    sentences carry the row's mask, which every row must then have, and are grouped by
    image (one sample per image with all its sentences, see :class:`RefSegDataset`).
    Images are not opened when the dataset is built (use ``tools/dataset_converters/
    image_text.py check`` for that); the image size comes from the image when it is
    loaded, and a mask of another size is an error naming the file and the line.

    Each sentence holds ``img_path, text, sent_id, ref_id, ann_id, image_id,
    category_id, split`` (+ ``mask_path`` or ``segmentation`` in test mode).
    ``sent_id`` counts the sentences of the file from 0, ``ref_id`` is the row's line
    number, ``image_id`` counts the distinct images in file order, ``split`` is the
    file's name without extension; ``ann_id`` and ``category_id`` are None. With
    ``train_sample='image'`` an item holds ``sentences`` (every ``(sent_id, text)`` of
    its image) instead, and :meth:`get_data_info` draws one each time.

    Args:
        ann_file: the ``.jsonl`` or ``.csv`` file, relative to ``data_root``.
        data_prefix: ``dict(img_path=..., mask_path=...)``, the folders the rows'
            relative image and mask paths are under, relative to ``data_root`` (or
            absolute); both default to ``data_root`` itself.
        train_sample: ``'sentence'`` (one sample per sentence) or ``'image'`` (one
            sample per image, its sentence drawn at random on every fetch). Only used
            when ``test_mode`` is False.
        **kwargs: passed to :class:`RefSegDataset` (``group_by_image``) and
            :class:`mmengine.dataset.BaseDataset` (``data_root``, ``pipeline``,
            ``test_mode``, ...).
    """

    METAINFO = dict(classes=('background', 'referred'), palette=[[0, 0, 0], [255, 0, 0]])

    def __init__(self,
                 ann_file: str = 'train.jsonl',
                 data_prefix: Optional[Dict[str, str]] = None,
                 train_sample: str = 'sentence',
                 **kwargs) -> None:
        if train_sample not in ('sentence', 'image'):
            raise ValueError(
                f"train_sample must be 'sentence' or 'image', got {train_sample!r}")
        self.train_sample = train_sample
        prefix = dict(img_path='', mask_path='')
        prefix.update(data_prefix or {})
        super().__init__(ann_file=ann_file, data_prefix=prefix, **kwargs)

    def load_sentence_list(self) -> List[dict]:
        """Read and check the file and build the sentences.

        Returns:
            One dict per sentence, or per image with ``train_sample='image'`` (see the
            class docstring).
        """
        rows, _ = read_image_text_file(self.ann_file)
        if self.test_mode:
            unmasked = [r.line for r in rows if r.mask is None]
            if unmasked:
                lines = ', '.join(map(str, unmasked[:_MAX_ERRORS_SHOWN]))
                raise ValueError(
                    f"'{self.ann_file}': evaluation needs a 'mask' on every row; "
                    f'{len(unmasked)} row(s) have none (lines {lines}'
                    f"{', ...' if len(unmasked) > _MAX_ERRORS_SHOWN else ''}). "
                    'Train on such a file with test_mode=False.')
        split = osp.splitext(osp.basename(self.ann_file))[0]
        image_ids: Dict[str, int] = {}
        per_image: Dict[int, dict] = {}
        data_list = []
        sent_id = 0
        for row in rows:
            img_path = osp.join(self.data_prefix['img_path'], row.image)
            image_id = image_ids.setdefault(img_path, len(image_ids))
            base = dict(img_path=img_path, ref_id=row.line, ann_id=None, image_id=image_id,
                        category_id=None, split=split)
            if self.test_mode:
                base.update(row_mask_to_sample(row.mask, self.data_prefix['mask_path']))
            sentences = list(enumerate(row.texts, start=sent_id))
            sent_id += len(row.texts)
            if not self.test_mode and self.train_sample == 'image':
                if image_id not in per_image:
                    per_image[image_id] = dict(base, sentences=[])
                    data_list.append(per_image[image_id])
                per_image[image_id]['sentences'].extend(sentences)
            else:
                data_list.extend(dict(base, sent_id=i, text=t) for i, t in sentences)
        return data_list
