import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.registry import MODELS


@MODELS.register_module()
class ImageTextContrastiveLoss(nn.Module):
    """Symmetric image-text InfoNCE (CLIP, GroupViT) where every sentence of an
    image is a positive of that image.

    Embeddings are L2-normalised and compared by cosine similarity times a learned
    logit scale (``exp(log_scale)``, initialised to ``1 / init_temperature`` and
    clamped at ``max_scale`` as CLIP and GroupViT do). Pair ``(i, j)`` is positive
    when sample i and sample j show the same image (equal image ids): a batch that
    holds two sentences of one image has two positives in each of their rows, and the
    target of a row is uniform over its positives (a soft-target cross-entropy).

    Args:
        init_temperature: initial temperature (GroupViT: 0.07).
        max_scale: upper bound of the logit scale (100).
        loss_weight: multiplies the loss.
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self,
                 init_temperature: float = 0.07,
                 max_scale: float = 100.,
                 loss_weight: float = 1.,
                 loss_name: str = 'loss_itc'):
        super().__init__()
        if init_temperature <= 0:
            raise ValueError(f'init_temperature must be > 0, got {init_temperature}')
        self.log_scale = nn.Parameter(torch.tensor(math.log(1. / init_temperature)))
        self.max_scale = max_scale
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    @property
    def scale(self) -> torch.Tensor:
        """The logit scale, ``min(exp(log_scale), max_scale)``."""
        return self.log_scale.exp().clamp(max=self.max_scale)

    def forward(self, image: torch.Tensor, text: torch.Tensor, image_ids: torch.Tensor,
                offset: int = 0, num_local: Optional[int] = None) -> torch.Tensor:
        """
        Args:
            image: (M, D) image embeddings of all samples (of every rank when
                gathered); sample j's sentence is ``text[j]``.
            text: (M, D) sentence embeddings, in the same order.
            image_ids: (M,) image id of each sample.
            offset: index of this process's first sample.
            num_local: this process's samples (None: all M).

        Returns:
            Tensor: scalar, the mean of the image->text and text->image terms over the
            local samples.
        """
        num_local = image.shape[0] if num_local is None else num_local
        local = slice(offset, offset + num_local)
        image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
        positive = (image_ids[local, None] == image_ids[None, :]).to(image.dtype)
        target = positive / positive.sum(dim=1, keepdim=True)
        scale = self.scale
        i2t = soft_cross_entropy(scale * image[local] @ text.t(), target)
        t2i = soft_cross_entropy(scale * text[local] @ image.t(), target)
        return self.loss_weight * 0.5 * (i2t + t2i)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``-sum_j target_ij log softmax(logits_i)_j``; (R, M) inputs."""
    return -(target * logits.log_softmax(dim=-1)).sum(dim=-1).mean()
