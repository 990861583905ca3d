"""Build-time checks of referring annotations: sentences, image entries, polygons, RLE.

pycocotools trusts its input. A NaN, infinite or huge polygon coordinate makes
``frPyObjects`` allocate memory in proportion to the polygon's perimeter until the
kernel kills the process, and RLE counts that sum past H x W make ``decode`` write
past its buffer. The datasets therefore check every sample when they are built,
before any pycocotools call, with numpy over all coordinates at once, and report
every problem in one :class:`InvalidDataError` (or drop the samples, with
``on_invalid='skip'``). See docs/reliability.md, "Data validation".
"""
import logging
import numbers
from collections import Counter
from typing import Any, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pycocotools.mask as mask_utils
from mmengine.logging import print_log

# A polygon coordinate may lie outside the image by this fraction of the image's side
# (pycocotools clips the mask to the image); beyond it the annotation or the image
# size is wrong.
BOUNDS_TOLERANCE = 0.25
# The largest image side accepted (a typo such as 4800000 would otherwise let
# coordinates of that size through).
MAX_IMAGE_SIDE = 100000
# How many problems an error message or a log line lists one by one (every one is
# counted, and all are in ``InvalidDataError.problems``).
MAX_LISTED = 50

ON_INVALID = ('raise', 'skip')

Issue = Tuple[str, str]  # (kind, detail): kind is short and shared, for the counts


class DataProblem(NamedTuple):
    """One problem of one sample.

    Attributes:
        file: the file that holds the bad entry.
        where: the entry, e.g. ``'ref 3, sent_id 12'`` or ``'annotation 7 (ref 3)'``.
        kind: what is wrong, short and shared by all problems of that kind.
        detail: the value or position that shows it.
    """
    file: str
    where: str
    kind: str
    detail: str = ''

    def __str__(self) -> str:
        detail = f' ({self.detail})' if self.detail else ''
        return f"'{self.file}': {self.where}: {self.kind}{detail}"


def _summary(problems: Sequence[DataProblem]) -> str:
    """The problems one per line (the first ``MAX_LISTED``), then the counts per kind."""
    lines = [f'  {p}' for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f'  ... and {len(problems) - MAX_LISTED} more')
    counts = Counter(p.kind for p in problems).most_common()
    lines.append('  by kind: ' + '; '.join(f'{n} x {kind}' for kind, n in counts))
    return '\n'.join(lines)


class InvalidDataError(ValueError):
    """Every problem a dataset found in its files, raised once at build.

    Args:
        dataset: names the dataset and split, e.g. ``"ReferDataset split 'val'"``.
        problems: all problems found.

    Attributes:
        problems: the same list, for programs that want every entry.
    """

    def __init__(self, dataset: str, problems: Sequence[DataProblem]) -> None:
        self.problems = list(problems)
        super().__init__(
            f'{dataset}: {len(self.problems)} invalid '
            f"entr{'y' if len(self.problems) == 1 else 'ies'}; fix the files, or set "
            "the dataset's on_invalid='skip' to drop those samples (e.g. --cfg-options "
            'train_dataloader.dataset.on_invalid=skip):\n'
            + _summary(self.problems))


def check_on_invalid(on_invalid: str) -> None:
    """Fail on an unknown ``on_invalid`` value, naming the valid ones."""
    if on_invalid not in ON_INVALID:
        raise ValueError(f'on_invalid must be one of {ON_INVALID}, got {on_invalid!r}')


def report_problems(dataset: str, problems: Sequence[DataProblem], on_invalid: str,
                    num_dropped: int, num_kept: int) -> None:
    """Raise :class:`InvalidDataError`, or log what ``on_invalid='skip'`` dropped.

    Args:
        dataset: names the dataset and split.
        problems: all problems found (nothing happens when empty).
        on_invalid: ``'raise'`` or ``'skip'``.
        num_dropped: samples dropped because of the problems.
        num_kept: samples kept.
    """
    if not problems:
        return
    if on_invalid == 'raise':
        raise InvalidDataError(dataset, problems)
    print_log(
        f'{dataset}: dropped {num_dropped} of {num_dropped + num_kept} samples with '
        f"invalid entries (on_invalid='skip'), {len(problems)} problems:\n"
        + _summary(problems), logger='current', level=logging.WARNING)


def check_sentence(text: Any) -> Optional[Issue]:
    """Check one sentence.

    Args:
        text: the sentence as loaded from the annotation file.

    Returns:
        ``(kind, detail)`` if it is not a non-blank string that encodes as UTF-8,
        else None.
    """
    if not isinstance(text, str):
        return 'sentence is not a string', f'{type(text).__name__} {text!r:.60}'
    if not text.strip():
        return 'sentence is empty or blank', repr(text)
    try:
        text.encode('utf-8')
    except UnicodeEncodeError as e:
        # Lone surrogates, left by a decoder run with errors='surrogateescape'.
        return 'sentence is not valid Unicode', f'{text!r:.60}: {e.reason}'
    return None


def _side(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) \
        and 0 < value <= MAX_IMAGE_SIDE


def check_image_size(height: Any, width: Any) -> Optional[Issue]:
    """Check an image's size as the annotation file gives it.

    The upper bound matters as much as the lower: polygon coordinates are checked
    against the size, and pycocotools' work grows with it.

    Returns:
        ``(kind, detail)`` unless both are integers in [1, ``MAX_IMAGE_SIDE``], else
        None.
    """
    if _side(height) and _side(width):
        return None
    return (f'image height and width are not integers in [1, {MAX_IMAGE_SIDE}]',
            f'{height!r} x {width!r}')


def _compressed_rle_counts(counts: Union[str, bytes]) -> Optional[np.ndarray]:
    """Read COCO's compressed RLE string (pycocotools' ``rleFrString``), or None.

    pycocotools reads it without any check (a stray character or a truncated string
    gives counts that ``decode`` writes past its buffer with), and offers no way to
    see the counts, so the format is read here: 6-bit groups offset by 48, low bits
    first, 0x20 = more groups follow, 0x10 in the last group = negative; from the
    third count on, each is stored as the difference to the one two before.
    """
    if isinstance(counts, str):
        try:
            counts = counts.encode('ascii')
        except UnicodeEncodeError:
            return None
    values: List[int] = []
    x = k = 0
    for byte in counts:
        c = byte - 48
        if not 0 <= c < 64:
            return None
        x |= (c & 0x1f) << (5 * k)
        k += 1
        if c & 0x20:
            continue
        if c & 0x10:
            x -= 1 << (5 * k)
        if len(values) > 2:
            x += values[-2]
        values.append(x)
        x = k = 0
    if k:  # the string ends inside a number
        return None
    return np.asarray(values, dtype=np.int64)


def _check_rle(rle: dict, height: int, width: int) -> Optional[Issue]:
    """Check an RLE dict against the image size; ``(kind, detail)`` or None."""
    size, counts = rle.get('size'), rle.get('counts')
    if size is None or counts is None:
        return 'RLE without size or counts', f'keys {sorted(map(str, rle))}'
    if not isinstance(size, (list, tuple)) or list(size) != [height, width]:
        return 'RLE size is not the image size', f'{size!r} vs [{height}, {width}]'
    if isinstance(counts, (str, bytes)):
        values = _compressed_rle_counts(counts)
        if values is None:
            return 'compressed RLE counts are not readable', f'{counts[:40]!r}'
    elif isinstance(counts, (list, tuple)) and all(
            isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in counts):
        values = np.asarray(counts, dtype=np.int64)
    else:
        return 'RLE counts are neither a string nor a list of integers', \
            f'{type(counts).__name__}'
    if values.size and values.min() < 0:
        return 'RLE has a negative count', f'{int(values.min())}'
    if int(values.sum()) != height * width:
        return 'RLE counts do not sum to height x width', \
            f'{int(values.sum())} vs {height} x {width} = {height * width}'
    return None


def check_segmentations(segmentations: Sequence[Any],
                        sizes: Sequence[Tuple[int, int]],
                        tolerance: float = BOUNDS_TOLERANCE) -> List[List[Issue]]:
    """Check COCO segmentations (polygons or RLE) against their images' sizes.

    All polygon coordinates of all segmentations go into one numpy array, so the
    cost is a few array operations plus one Python step per polygon. Polygons of
    fewer than 3 points (and ``[]``) are degenerate, not invalid: they have no area
    and :func:`decode_segmentation` drops them (see :func:`segmentation_areas`).

    Args:
        segmentations: one COCO ``segmentation`` per entry: a list of flat
            ``[x0, y0, x1, y1, ...]`` polygons, or an RLE dict (``size``, ``counts``
            as a list of ints or a compressed string).
        sizes: ``(height, width)`` of each entry's image, positive integers.
        tolerance: how far, as a fraction of the image's width (x) or height (y), a
            coordinate may lie outside the image.

    Returns:
        Per entry, its problems as ``(kind, detail)``; empty when valid.
    """
    issues: List[List[Issue]] = [[] for _ in segmentations]
    flat: List[Any] = []
    owners, polygon_ids, lengths = [], [], []
    for i, (segmentation, (height, width)) in enumerate(zip(segmentations, sizes)):
        if isinstance(segmentation, dict):
            issue = _check_rle(segmentation, height, width)
            if issue:
                issues[i].append(issue)
            continue
        if not isinstance(segmentation, (list, tuple)):
            issues[i].append(('segmentation is neither polygons nor RLE',
                              type(segmentation).__name__))
            continue
        for j, polygon in enumerate(segmentation):
            if not isinstance(polygon, (list, tuple)):
                issues[i].append(('polygon is not a list of coordinates',
                                  f'polygon {j} is {type(polygon).__name__}'))
            elif len(polygon) % 2:
                issues[i].append(('polygon has an odd number of coordinates',
                                  f'polygon {j} has {len(polygon)}'))
            elif polygon:
                flat.extend(polygon)
                owners.append(i)
                polygon_ids.append(j)
                lengths.append(len(polygon))
    if not flat:
        return issues

    try:
        coords = np.array(flat, dtype=np.float64)
    except (TypeError, ValueError):
        coords = None
    if coords is not None and coords.shape == (len(flat),):
        numeric = np.ones(len(flat), dtype=bool)
    else:  # some coordinate is a string, a list, ...: find which
        numeric = np.array([isinstance(c, numbers.Real) for c in flat])
        coords = np.array([c if ok else 0.0 for c, ok in zip(flat, numeric)],
                          dtype=np.float64)
    lengths_arr = np.asarray(lengths)
    polygon_of = np.repeat(np.arange(len(lengths)), lengths_arr)
    heights = np.array([h for h, _ in sizes], dtype=np.float64)
    widths = np.array([w for _, w in sizes], dtype=np.float64)
    owner_of = np.asarray(owners)[polygon_of]
    # Every polygon has an even length, so x sits at even indices of the whole array.
    side = np.where(np.arange(len(flat)) % 2 == 0, widths[owner_of], heights[owner_of])
    finite = np.isfinite(coords)
    outside = finite & ((coords < -tolerance * side) | (coords > (1 + tolerance) * side))
    bad = ~numeric | ~finite | outside
    if not bad.any():
        return issues
    starts = np.concatenate([[0], np.cumsum(lengths_arr)[:-1]])
    # One report per bad polygon, at its first bad coordinate.
    bad_polygons, first = np.unique(polygon_of[bad], return_index=True)
    for p, k in zip(bad_polygons, np.flatnonzero(bad)[first]):
        i, j = owners[p], polygon_ids[p]
        where = f'polygon {j}, coordinate {k - starts[p]} = {flat[k]!r}'
        if not numeric[k] or not isinstance(flat[k], numbers.Real):  # None reads as NaN
            issues[i].append(('polygon coordinate is not a number', where))
        elif not finite[k]:
            issues[i].append(('polygon coordinate is not finite', where))
        else:
            height, width = sizes[i]
            issues[i].append(('polygon coordinate lies outside the image',
                              f'{where}; image {height} x {width} (HxW)'))
    return issues


def segmentation_areas(segmentations: Sequence[Any],
                       sizes: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Pixel areas of valid segmentations, as :func:`decode_segmentation` draws them.

    Only call it on segmentations that :func:`check_segmentations` passed. It works
    on RLE (polygons are converted, never decoded to a full mask).

    Args:
        segmentations: COCO segmentations.
        sizes: ``(height, width)`` of each entry's image.

    Returns:
        (N,) int64 areas; 0 for ``[]`` and polygons all under 3 points.
    """
    areas = np.zeros(len(segmentations), dtype=np.int64)
    for i, (segmentation, (height, width)) in enumerate(zip(segmentations, sizes)):
        rle = to_rle(segmentation, height, width)
        if rle is not None:
            areas[i] = int(mask_utils.area(rle))
    return areas


def to_rle(segmentation: Any, height: int, width: int) -> Optional[dict]:
    """A valid COCO segmentation as one pycocotools RLE, or None if it has no polygon
    of 3 points or more.

    pycocotools reads a first polygon of 4 numbers as a box and fails on fewer;
    polygons under 3 points have no area, so dropping them changes no pixel.
    """
    if isinstance(segmentation, (list, tuple)):
        polygons = [list(p) for p in segmentation if len(p) >= 6]
        if not polygons:
            return None
        return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    if isinstance(segmentation.get('counts'), list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def decode_py2_strings(obj: Any) -> Any:
    """Decode the byte strings of an object loaded with ``encoding='bytes'``.

    Python 2 ``str`` values (and dict keys) arrive as bytes; each is decoded as UTF-8,
    and as latin-1 only when it is not valid UTF-8 (latin-1 maps every byte to a
    code point, so no text is lost).
    """
    if isinstance(obj, bytes):
        try:
            return obj.decode('utf-8')
        except UnicodeDecodeError:
            return obj.decode('latin-1')
    if isinstance(obj, dict):
        return {decode_py2_strings(k): decode_py2_strings(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_py2_strings(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(decode_py2_strings(v) for v in obj)
    return obj


def first_duplicates(ids: Iterable[Any]) -> List[Tuple[int, int]]:
    """Positions ``(first, later)`` of every id seen before, in order.

    Args:
        ids: hashable ids.

    Returns:
        For each repeated id at position ``later``, the position of its first
        occurrence.
    """
    seen: dict = {}
    pairs = []
    for pos, key in enumerate(ids):
        if key in seen:
            pairs.append((seen[key], pos))
        else:
            seen[key] = pos
    return pairs
