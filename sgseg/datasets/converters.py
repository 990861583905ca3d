"""Converters between the image–text files, the refer format and WebDataset shards,
and the check of an image–text file (``tools/dataset_converters/image_text.py``)."""
import csv
import json
import os
import os.path as osp
import pickle
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

import numpy as np
import pycocotools.mask as mask_utils
from PIL import Image
from pycocotools.coco import COCO

from .image_text import ImageTextRow, RowError, read_image_text_file
from .refer import load_refs
from .transforms.loading import LoadRefImage, decode_segmentation, load_binary_mask
from .validation import check_segmentations

# The kinds of problem :func:`check_image_text_file` reports, in the summary's order.
CHECK_KINDS = ('format', 'empty_sentence', 'mask_format', 'missing_image',
               'unreadable_image', 'missing_mask', 'unreadable_mask', 'mask_size')


def refer_to_records(data_root: str,
                     ann_file: str = 'refs(unc).p',
                     instances_file: str = 'instances.json',
                     img_prefix: str = 'images',
                     text_key: str = 'sent') -> Dict[str, List[dict]]:
    """Read a refer release into image–text records, one per ref, grouped by split.

    Args:
        data_root: the folder of the refs pickle and the instances file.
        ann_file: the refs pickle, relative to ``data_root``.
        instances_file: COCO instances json, relative to ``data_root``.
        img_prefix: the image folder relative to ``data_root``: records name their
            image ``<img_prefix>/<file_name>``, so the written file reads with
            ``data_root`` as its data root.
        text_key: ``'sent'`` or ``'raw'``.

    Returns:
        ``{split: [{"image", "texts", "mask", "ref_id", "ann_id"}, ...]}`` in file
        order; ``mask`` is the annotation's ``segmentation`` (absent if it has none).
    """
    refs = load_refs(osp.join(data_root, ann_file))
    coco = COCO(osp.join(data_root, instances_file))
    out: Dict[str, List[dict]] = {}
    for ref in refs:
        ann = coco.anns[ref['ann_id']]
        img = coco.imgs[ref['image_id']]
        record = dict(image=osp.join(img_prefix, img['file_name']),
                      texts=[s[text_key] for s in ref['sentences']])
        if 'segmentation' in ann:
            record['mask'] = ann['segmentation']
        record.update(ref_id=ref['ref_id'], ann_id=ref['ann_id'])
        out.setdefault(ref['split'], []).append(record)
    return out


def _jsonable(value):
    """RLE counts as str (pycocotools gives bytes)."""
    if isinstance(value, dict) and isinstance(value.get('counts'), bytes):
        return dict(value, counts=value['counts'].decode('ascii'))
    return value


def write_records(path: str, records: Iterable[dict]) -> int:
    """Write records as JSON lines, or as CSV when ``path`` ends in ``.csv``.

    The CSV has columns ``image, text, mask``, one row per sentence, an RLE or
    polygons JSON-encoded in ``mask`` (other fields are dropped).

    Args:
        path: the output file (its folder is created).
        records: dicts with ``image``, ``texts`` or ``text``, optional ``mask``.

    Returns:
        The number of lines written (CSV: without the header).
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    count = 0
    with open(path, 'w', newline='', encoding='utf-8') as f:
        if path.lower().endswith('.csv'):
            writer = csv.writer(f)
            writer.writerow(['image', 'text', 'mask'])
            for r in records:
                mask = r.get('mask')
                cell = '' if mask is None else mask if isinstance(mask, str) \
                    else json.dumps(_jsonable(mask), separators=(',', ':'))
                for text in r.get('texts', [r.get('text')]):
                    writer.writerow([r['image'], text, cell])
                    count += 1
        else:
            for r in records:
                r = dict(r, mask=_jsonable(r['mask'])) if 'mask' in r else r
                f.write(json.dumps(r, ensure_ascii=False, separators=(',', ':')) + '\n')
                count += 1
    return count


def _image_size(path: str) -> tuple:
    """(height, width) of an image file, from its header."""
    with Image.open(path) as img:
        return img.height, img.width


def _mask_key(row: ImageTextRow) -> str:
    return json.dumps(row.mask, sort_keys=True)


def records_to_refer(files: Dict[str, str], data_root: str, out_dir: str,
                     ann_file: str = 'refs(unc).p',
                     instances_file: str = 'instances.json') -> dict:
    """Write image–text files as a refer release (``instances.json`` + refs pickle).

    Rows of one image with the same mask become one ref (their sentences together),
    as :func:`refer_to_records` wrote them; every other row is a ref of its own. A
    row's mask becomes its annotation's ``segmentation`` (a PNG is stored as RLE); an
    annotation of a row without mask has no ``segmentation``, so a refer dataset built
    on it trains but refuses to evaluate. Image sizes come from an RLE's ``size`` or
    else from the image file's header. An image's COCO ``file_name`` is the row's
    image path: read the result with ``data_prefix=dict(img_path=<data_root>)``
    (or ``''`` when ``out_dir`` is ``data_root``).

    Args:
        files: ``{split: image-text file}``.
        data_root: the folder the rows' relative image and mask paths are under.
        out_dir: the output folder (created).
        ann_file: the refs pickle to write, in ``out_dir``.
        instances_file: the instances json to write, in ``out_dir``.

    Returns:
        ``dict(images=..., annotations=..., refs=..., sentences=...)`` counts.
    """
    images: Dict[str, dict] = {}
    annotations: List[dict] = []
    refs: List[dict] = []
    ref_of_mask: Dict[tuple, dict] = {}
    sent_id = 0
    for split, path in files.items():
        rows, _ = read_image_text_file(path)
        for row in rows:
            image_path = row.image
            if image_path not in images:
                if isinstance(row.mask, dict):
                    height, width = row.mask['size']
                else:
                    height, width = _image_size(osp.join(data_root, image_path))
                images[image_path] = dict(id=len(images) + 1, file_name=image_path,
                                          height=height, width=width)
            img = images[image_path]
            key = None if row.mask is None else (image_path, split, _mask_key(row))
            ref = ref_of_mask.get(key)
            if ref is None:
                ann = dict(id=len(annotations) + 1, image_id=img['id'], category_id=1,
                           iscrowd=0)
                if row.mask is not None:
                    ann['segmentation'] = _refer_segmentation(row.mask, data_root, img)
                    rle = _to_rle(ann['segmentation'], img['height'], img['width'])
                    ann['area'] = float(mask_utils.area(rle))
                    ann['bbox'] = [float(v) for v in mask_utils.toBbox(rle)]
                annotations.append(ann)
                ref = dict(ref_id=len(refs), ann_id=ann['id'], image_id=img['id'],
                           category_id=1, split=split, sent_ids=[], sentences=[],
                           file_name=f'ref_{len(refs)}_{osp.basename(image_path)}')
                refs.append(ref)
                if key is not None:
                    ref_of_mask[key] = ref
            for text in row.texts:
                ref['sentences'].append(dict(sent_id=sent_id, sent=text, raw=text,
                                             tokens=text.split()))
                ref['sent_ids'].append(sent_id)
                sent_id += 1
    os.makedirs(out_dir, exist_ok=True)
    instances = dict(images=list(images.values()), annotations=annotations,
                     categories=[dict(id=1, name='object', supercategory='object')])
    with open(osp.join(out_dir, instances_file), 'w') as f:
        json.dump(instances, f, separators=(',', ':'))
    with open(osp.join(out_dir, ann_file), 'wb') as f:
        pickle.dump(refs, f, protocol=4)
    return dict(images=len(images), annotations=len(annotations), refs=len(refs),
                sentences=sent_id)


def _refer_segmentation(mask, data_root: str, img: dict):
    """A row mask as a COCO ``segmentation`` (a PNG becomes a compressed RLE)."""
    if not isinstance(mask, str):
        return mask
    binary = load_binary_mask(osp.join(data_root, mask))
    if binary.shape != (img['height'], img['width']):
        raise ValueError(f"mask file '{mask}' is {binary.shape[0]}x{binary.shape[1]} but "
                         f"its image '{img['file_name']}' is {img['height']}x{img['width']}")
    return _jsonable(mask_utils.encode(np.asfortranarray(binary)))


def _to_rle(segmentation, height: int, width: int) -> dict:
    return mask_utils.encode(np.asfortranarray(decode_segmentation(segmentation, height,
                                                                   width)))


# --------------------------------------------------------------------------- check


@dataclass
class CheckReport:
    """What :func:`check_image_text_file` found.

    Attributes:
        path: the file checked.
        rows: rows read (good and bad).
        sentences: sentences in the rows that could be parsed.
        images: distinct images named.
        masks: rows with a mask.
        errors: every problem, in line order.
    """

    path: str
    rows: int = 0
    sentences: int = 0
    images: int = 0
    masks: int = 0
    errors: List[RowError] = field(default_factory=list)

    def counts(self) -> Dict[str, int]:
        """Errors per kind (kinds with none left out)."""
        found = Counter(e.kind for e in self.errors)
        return {k: found[k] for k in CHECK_KINDS if found[k]}

    def summary(self) -> str:
        """The lines ``check`` prints: every error, then the totals."""
        lines = [str(e) + f'  [{e.kind}]' for e in self.errors]
        bad_rows = len({e.line for e in self.errors})
        lines.append(f"{self.path}: {self.rows} rows, {self.sentences} sentences, "
                     f"{self.images} images, {self.masks} masks; {bad_rows} bad row(s)")
        lines += [f'  {kind}: {n}' for kind, n in self.counts().items()]
        lines.append('OK' if not self.errors else 'FAILED')
        return '\n'.join(lines)


def check_image_text_file(path: str, data_root: str = '', img_prefix: str = '',
                          mask_prefix: str = '') -> CheckReport:
    """Check every row of an image–text file and every image and mask it names.

    Unlike the dataset, which checks the rows' form when it is built, this opens the
    files: a missing or undecodable image or mask, and a mask whose size is not its
    image's (an RLE's ``size``, a PNG's shape, polygons reaching outside the image),
    are reported with the row's line number; the check goes on to the end.

    Args:
        path: the ``.jsonl`` or ``.csv`` file.
        data_root: the folder relative paths are under (as the dataset's).
        img_prefix: image folder under ``data_root`` (``data_prefix['img_path']``).
        mask_prefix: mask folder under ``data_root`` (``data_prefix['mask_path']``).

    Returns:
        The report.
    """
    rows, errors = read_image_text_file(path, strict=False)
    report = CheckReport(path=path, errors=list(errors))
    report.rows = len(rows) + len({e.line for e in errors})
    loader = LoadRefImage()
    shapes: Dict[str, object] = {}  # image path -> (H, W) or the RowError kind
    for row in rows:
        report.sentences += len(row.texts)
        img_path = osp.join(data_root, img_prefix, row.image)
        if img_path not in shapes:
            try:
                shapes[img_path] = loader.transform(dict(img_path=img_path))['ori_shape']
            except FileNotFoundError:
                shapes[img_path] = ('missing_image', f"image '{img_path}' not found")
            except ValueError as e:
                shapes[img_path] = ('unreadable_image', str(e))
        shape = shapes[img_path]
        if isinstance(shape[0], str):
            report.errors.append(RowError(row.line, *shape))
        if row.mask is None:
            continue
        report.masks += 1
        problem = _check_mask(row.mask, osp.join(data_root, mask_prefix),
                              None if isinstance(shape[0], str) else tuple(shape))
        if problem:
            report.errors.append(RowError(row.line, *problem))
    report.images = len(shapes)
    report.errors.sort(key=lambda e: e.line)
    return report


def _check_mask(mask, mask_root: str, shape: Optional[tuple]) -> Optional[tuple]:
    """``(kind, message)`` of what is wrong with a mask, or None."""
    if isinstance(mask, str):
        path = osp.join(mask_root, mask)
        if not osp.isfile(path):
            return 'missing_mask', f"mask file '{path}' not found"
        try:
            size = load_binary_mask(path).shape
        except ValueError as e:
            return 'unreadable_mask', str(e)
        what = f"mask file '{path}'"
    elif shape is None:  # the image is missing: its problem is reported already
        return None
    else:
        # polygons and RLE as the datasets check them (a coordinate may lie a little
        # outside the image: pycocotools clips the mask)
        issues = check_segmentations([mask], [shape])[0]
        if not issues:
            return None
        kind, detail = issues[0]
        size_kinds = ('RLE size is not the image size',
                      'polygon coordinate lies outside the image')
        return ('mask_size' if kind in size_kinds else 'mask_format'), f'{kind} ({detail})'
    if shape is not None and tuple(size) != shape:
        return 'mask_size', (f'{what} is {size[0]}x{size[1]} (HxW) but the image is '
                             f'{shape[0]}x{shape[1]}')
    return None


# --------------------------------------------------------------------- WebDataset


def write_shards(path: str, out_dir: str, data_root: str = '', prefix: str = 'train',
                 shard_size: int = 1000) -> List[str]:
    """Write an image–text file as WebDataset shards, one sample per image.

    A sample is ``<key>.<ext>`` (the image file's bytes as they are: no re-encoding)
    and ``<key>.txt`` (its sentences, one per line), keys ``000000``, ``000001``, ...
    in file order. Two files per sample and integer times keep the tar headers few and
    plain (a float time would add a PAX header to every file): Python's tar reader
    spends more time on headers than on the data of small images.

    Args:
        path: the image–text file.
        out_dir: the output folder (created).
        data_root: the folder the rows' image paths are under.
        prefix: shard names are ``<prefix>-000000.tar``, ...
        shard_size: samples per shard.

    Returns:
        The shard paths written.
    """
    from webdataset import TarWriter

    rows, _ = read_image_text_file(path)
    texts: Dict[str, List[str]] = {}
    for row in rows:
        texts.setdefault(row.image, []).extend(row.texts)
    os.makedirs(out_dir, exist_ok=True)
    shards: List[str] = []
    writer = None
    for index, (image, sentences) in enumerate(texts.items()):
        if index % shard_size == 0:
            if writer is not None:
                writer.close()
            shards.append(osp.join(out_dir, f'{prefix}-{len(shards):06d}.tar'))
            writer = TarWriter(shards[-1], encoder=False, mtime=0)
        ext = osp.splitext(image)[1].lstrip('.').lower() or 'jpg'
        with open(osp.join(data_root, image), 'rb') as f:
            data = f.read()
        writer.write({'__key__': f'{index:06d}', ext: data,
                      'txt': '\n'.join(sentences).encode('utf-8')})
    if writer is not None:
        writer.close()
    return shards


def rewrite_refer_as(folder: str, fmt: str, shard_size: int = 250,
                     ann_file: str = 'refs(unc).p',
                     instances_file: str = 'instances.json') -> List[str]:
    """Turn a refer release whose images are under ``<folder>/images`` into image–text
    files (``fmt='jsonl'`` or ``'csv'``: ``<split>.<fmt>``) or, with ``fmt='wds'``,
    JSON-lines files plus the train split as shards (``shards/train-*.tar``).

    The refs pickle and the instances file are removed: the folder then holds the
    layout of one's own data (``images/`` and one file per split). Used by the
    synthetic generator's ``--format``.

    Args:
        folder: the refer release.
        fmt: ``'jsonl'``, ``'csv'`` or ``'wds'``.
        shard_size: images per shard (``'wds'``).
        ann_file: the refs pickle in ``folder``.
        instances_file: the instances file in ``folder``.

    Returns:
        The files written.
    """
    if fmt not in ('jsonl', 'csv', 'wds'):
        raise ValueError(f"fmt must be 'jsonl', 'csv' or 'wds', got {fmt!r}")
    ext = 'csv' if fmt == 'csv' else 'jsonl'
    written = []
    for split, records in refer_to_records(folder, ann_file, instances_file).items():
        written.append(osp.join(folder, f'{split}.{ext}'))
        write_records(written[-1], [{k: r[k] for k in ('image', 'texts', 'mask')}
                                    for r in records])
    if fmt == 'wds':
        written += write_shards(osp.join(folder, 'train.jsonl'), osp.join(folder, 'shards'),
                                folder, 'train', shard_size)
    for name in (ann_file, instances_file):
        os.remove(osp.join(folder, name))
    return written
