"""Loading transforms: the image (always 3-channel BGR uint8) and the referred mask."""
from collections import OrderedDict
from typing import List, Union

import mmcv
import mmengine.fileio as fileio
import numpy as np
import pycocotools.mask as mask_utils
from mmcv.transforms import BaseTransform, LoadImageFromFile

from sgseg.registry import TRANSFORMS
from ..validation import check_segmentations, to_rle

# COCO segmentation: polygons (a list of flat [x0, y0, x1, y1, ...] lists) or an RLE
# dict whose 'counts' is a string/bytes (compressed) or a list of ints (uncompressed).
Segmentation = Union[List[List[float]], dict]


def decode_segmentation(segmentation: Segmentation, height: int, width: int) -> np.ndarray:
    """Decode a COCO segmentation into a binary mask, as ``COCO.annToMask`` does.

    The segmentation is checked first (:func:`check_segmentations`: finite, in-image
    polygon coordinates; RLE of the image's size whose counts sum to H x W), since
    pycocotools would allocate without bound or write past its buffer on such
    input. The datasets check every annotation when they are built; this check
    protects other callers. Polygons under 3 points have no area and are dropped.

    Args:
        segmentation: polygons or RLE (compressed or uncompressed, crowd or not).
        height: image height H.
        width: image width W.

    Returns:
        The mask, shape (H, W), uint8 in {0, 1}.

    Raises:
        ValueError: if the segmentation is malformed, naming the problem.
    """
    issues = check_segmentations([segmentation], [(height, width)])[0]
    if issues:
        raise ValueError('invalid segmentation: ' + '; '.join(
            f'{kind} ({detail})' for kind, detail in issues))
    rle = to_rle(segmentation, height, width)
    if rle is None:
        return np.zeros((height, width), dtype=np.uint8)
    return mask_utils.decode(rle).astype(np.uint8)


def load_binary_mask(path: str, who: str = 'sample') -> np.ndarray:
    """Read a mask image (PNG or any format OpenCV reads): non-zero pixels are the target.

    Args:
        path: the mask file.
        who: the sample, for errors.

    Returns:
        The mask, shape (H, W), uint8 in {0, 1}.
    """
    try:
        data = fileio.get(path)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"mask file '{path}' ({who}) not found") from e
    mask = mmcv.imfrombytes(data, flag='unchanged') if data else None
    if mask is None:
        raise ValueError(f"mask file '{path}' ({who}) could not be decoded")
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    return (mask > 0).astype(np.uint8)


def _sample_name(results: dict) -> str:
    """Identify a sample in error messages."""
    if 'sent_id' in results:
        return f"sent_id {results['sent_id']}"
    if 'expressions' in results:
        ids = [e.get('sent_id') for e in results['expressions']]
        return f"image_id {results.get('image_id')}, sent_ids {ids}"
    return 'sample'


@TRANSFORMS.register_module()
class LoadRefImage(LoadImageFromFile):
    """Load an image as 3-channel BGR uint8, with errors that name the file.

    mmcv's cv2 decoding with a colour flag already turns grayscale, RGBA (alpha
    dropped), palette, CMYK JPEG and 16-bit images into 3-channel 8-bit BGR (the tests
    check each). What this subclass adds: every failure names the file and the
    sample, as a ``FileNotFoundError`` or ``ValueError`` (``LoadImageFromFile`` raises
    a bare OpenCV assertion for an empty file and an ``assert``, gone under
    ``python -O``, for an undecodable one), and the EXIF orientation is ignored by
    default.

    Required keys: ``img_path``. Optional key: ``img_bytes``, the encoded image
    already read (a sample streamed from a shard; ``img_path`` then only names it).
    Added keys: ``img`` (H, W, 3) uint8, ``img_shape``, ``ori_shape``.

    Args:
        color_type: flag of :func:`mmcv.imfrombytes`. The default ignores the EXIF
            orientation tag because COCO and Visual Genome annotations are drawn on
            the pixels as stored; rotating would misalign masks and images.
        cache_mb: keep up to this many MB of decoded images in memory, each process
            its own (a persistent data-loading worker keeps its cache from epoch to
            epoch); the least recently used image goes first. 0 (default) decodes
            every time. Each call returns a copy, so a later transform may change it
            in place. For datasets that fit in memory (the synthetic one: 188 MB of
            training images), where decoding is most of a data worker's time.
        **kwargs: passed to :class:`mmcv.transforms.LoadImageFromFile`.
    """

    def __init__(self, color_type: str = 'color_ignore_orientation', cache_mb: float = 0,
                 **kwargs) -> None:
        if not color_type.startswith('color'):
            raise ValueError(
                f"LoadRefImage loads 3-channel images; color_type must be 'color' or "
                f"'color_ignore_orientation', got {color_type!r}")
        if cache_mb < 0:
            raise ValueError(f'LoadRefImage: cache_mb must be >= 0, got {cache_mb}')
        super().__init__(color_type=color_type, **kwargs)
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: 'OrderedDict[str, np.ndarray]' = OrderedDict()
        self._cached_bytes = 0

    def transform(self, results: dict) -> dict:
        """Load ``results['img_path']``.

        Args:
            results: the sample dict.

        Returns:
            The sample dict with the image.
        """
        path = results['img_path']
        if 'img_bytes' in results:  # a streamed sample (WebDataset shards)
            img = self.decode(results.pop('img_bytes'), results)
        elif path in self._cache:
            self._cache.move_to_end(path)
            img = self._cache[path].copy()
        else:
            img = self.decode(self.read(path, results), results)
            self.remember(path, img)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def read(self, path: str, results: dict) -> bytes:
        """The encoded bytes of ``path``; a missing file is named with its sample."""
        try:
            return fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f"image file '{path}' ({_sample_name(results)}) not found") from e

    def decode(self, img_bytes: bytes, results: dict) -> np.ndarray:
        """Decode to (H, W, 3) BGR uint8; an empty or undecodable file is named."""
        path, who = results['img_path'], _sample_name(results)
        if len(img_bytes) == 0:
            raise ValueError(f"image file '{path}' ({who}) is empty (0 bytes)")
        img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                               backend=self.imdecode_backend)
        if img is None:
            raise ValueError(f"image file '{path}' ({who}) could not be decoded")
        return img

    def remember(self, path: str, img: np.ndarray) -> None:
        """Keep a copy of a decoded image within ``cache_mb`` (least recently used out)."""
        if img.nbytes > self.cache_bytes:
            return
        self._cache[path] = img.copy()
        self._cached_bytes += img.nbytes
        while self._cached_bytes > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= old.nbytes


@TRANSFORMS.register_module()
class LoadRefMask(BaseTransform):
    """Decode the referred mask at the original image size (evaluation only).

    The mask goes in ``gt_ref_mask``, a key the geometric transforms of mmcv and
    mmseg (``Resize``, ``Pad``, ...) do not know, so it stays at the original
    resolution where the metric is computed. An image sample with several sentences
    (``expressions``, evaluation grouped by image) gets one mask per sentence, in
    each expression's dict.

    Required keys: ``segmentation`` (COCO polygons or RLE) or ``mask_path`` (a
    binary PNG: any non-zero pixel is the target), in ``results`` or in each of
    ``results['expressions']``, and ``height``/``width`` (from the dataset) or
    ``ori_shape`` (from the image loader, placed before this transform); when both
    are present they must agree, and so must an RLE's or a PNG's size.
    Added keys: ``gt_ref_mask`` (H0, W0) uint8 in {0, 1}, in ``results`` or in each
    of ``results['expressions']``.
    """

    def transform(self, results: dict) -> dict:
        """Decode ``results['segmentation']`` (or each expression's).

        Args:
            results: the sample dict.

        Returns:
            The sample dict with ``gt_ref_mask``.
        """
        who = _sample_name(results)
        targets = results.get('expressions', [results])
        for target in targets:
            if 'segmentation' not in target and 'mask_path' not in target:
                raise KeyError(
                    f"{_sample_name(target)} has no 'segmentation': LoadRefMask needs an "
                    "evaluation sample (build the dataset with test_mode=True)")
        if 'height' in results:
            height, width = results['height'], results['width']
            if 'ori_shape' in results and tuple(results['ori_shape']) != (height, width):
                raise ValueError(
                    f"image '{results['img_path']}' ({who}) is "
                    f"{results['ori_shape'][0]}x{results['ori_shape'][1]} (HxW) but its "
                    f"annotation says {height}x{width}")
        elif 'ori_shape' in results:
            height, width = results['ori_shape'][:2]
        else:
            raise KeyError(f"{who} has neither 'height'/'width' nor 'ori_shape': place "
                           'LoadRefImage before LoadRefMask')
        for target in targets:
            target['gt_ref_mask'] = self.load_mask(target, results['img_path'], height,
                                                   width)
        return results

    @staticmethod
    def load_mask(target: dict, img_path: str, height: int, width: int) -> np.ndarray:
        """The (H0, W0) mask of one sentence, from ``mask_path`` or ``segmentation``."""
        who = _sample_name(target)
        if 'mask_path' in target:
            mask = load_binary_mask(target['mask_path'], who)
            if mask.shape != (height, width):
                raise ValueError(
                    f"mask file '{target['mask_path']}' ({who}) is {mask.shape[0]}x"
                    f"{mask.shape[1]} (HxW) but its image '{img_path}' is "
                    f'{height}x{width}')
            return mask
        segmentation = target['segmentation']
        size = segmentation.get('size') if isinstance(segmentation, dict) else None
        if size is not None and tuple(size) != (height, width):
            raise ValueError(
                f"the RLE mask of {who} is {size[0]}x{size[1]} (HxW) but its image "
                f"'{img_path}' is {height}x{width}")
        try:
            return decode_segmentation(segmentation, height, width)
        except ValueError as e:
            raise ValueError(f"{who} (image '{img_path}'): {e}") from e
