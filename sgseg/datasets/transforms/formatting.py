"""PackRefSegInputs: the one place a referring sample becomes tensors."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from sgseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackRefSegInputs(BaseTransform):
    """Pack an image, its sentence(s) and (for evaluation) their masks for the model.

    Required keys: ``img`` (H, W, 3) uint8 BGR and the ``meta_keys`` present.
    Optional key: ``gt_ref_mask`` (H0, W0), packed as ``gt_sem_seg`` only when a
    :class:`LoadRefMask` put it there (evaluation); training samples have none.

    An image with several sentences (``expressions``, evaluation grouped by image)
    becomes one data sample of the image whose ``expressions`` field is a list with
    one data sample per sentence, each exactly what a sample of that sentence alone
    would be (the image's meta keys, the sentence's, its ``gt_sem_seg``).
    ``RefSegDataPreProcessor`` flattens them into the batch's sentences.

    Args:
        meta_keys: keys copied into the data sample's metainfo when present.

    Returns (of :meth:`transform`):
        ``dict(inputs=(3, H, W) uint8 tensor, data_samples=SegDataSample)``, the data
        sample holding ``gt_sem_seg = PixelData(data=(1, H0, W0) uint8)`` in
        evaluation.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_path', 'ori_shape', 'img_shape',
                                             'pad_shape', 'scale_factor', 'text',
                                             'sent_id', 'ref_id', 'ann_id', 'image_id',
                                             'category_id', 'flip', 'flip_direction')
                 ) -> None:
        self.meta_keys = tuple(meta_keys)

    def pack_sample(self, results: dict) -> SegDataSample:
        """The data sample of one sentence (or of the image when ``results`` is one)."""
        data_sample = SegDataSample()
        if 'gt_ref_mask' in results:
            mask = np.ascontiguousarray(results['gt_ref_mask'], dtype=np.uint8)
            data_sample.gt_sem_seg = PixelData(data=torch.from_numpy(mask)[None])
        data_sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return data_sample

    def transform(self, results: dict) -> dict:
        """Pack ``results``.

        Args:
            results: the sample dict after loading and resizing.

        Returns:
            ``dict(inputs=..., data_samples=...)``.
        """
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"image '{results.get('img_path')}' has shape {img.shape}; "
                "PackRefSegInputs expects (H, W, 3)")
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        if 'expressions' not in results:
            return dict(inputs=inputs, data_samples=self.pack_sample(results))
        image = {k: v for k, v in results.items() if k != 'expressions'}
        data_sample = self.pack_sample(image)
        data_sample.expressions = [self.pack_sample({**image, **expression})
                                   for expression in results['expressions']]
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
