from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.registry import MODELS
from .pooled_contrastive_loss import same_image_mask


@MODELS.register_module()
class C3Loss(nn.Module):
    """Contrastive cycle-consistency loss (Eq. 8), text -> image.

    For text j, ``logit_ij = <z_ij, sg(x^T_j)> / temperature`` over the B images i of
    the batch; cross-entropy with the matching image i = j as the target.

    Args:
        temperature: divides the logits (1 in the paper's released code).
        mask_same_image: treat images that are the *same image* as the positive (two
            sentences of one image in the batch) as false negatives and drop them from
            the denominator. False keeps them as negatives, as the paper's code does.
        loss_weight: multiplies the loss.
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self,
                 temperature: float = 1.,
                 mask_same_image: bool = False,
                 loss_weight: float = 1.,
                 loss_name: str = 'loss_c3'):
        super().__init__()
        self.temperature = temperature
        self.mask_same_image = mask_same_image
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self,
                z: torch.Tensor,
                text: torch.Tensor,
                image_ids: Optional[torch.Tensor] = None,
                offset: int = 0) -> torch.Tensor:
        """
        Args:
            z: (B_i, B_t, D) cross-modal embeddings, ``z[i, j]`` from image i and text
                j. B_i > B_t when the images of every rank are gathered.
            text: (B_t, D) textual features x^T (the stop-gradient is applied here).
            image_ids: (B_i,) id of each image; needed by ``mask_same_image``.
            offset: text j's matching image is image ``offset + j``.

        Returns:
            Tensor: scalar loss.
        """
        logits = torch.einsum('ijd,jd->ji', z, text.detach()) / self.temperature
        target = torch.arange(text.shape[0], device=logits.device) + offset
        if self.mask_same_image:
            if image_ids is None:
                raise ValueError('C3Loss(mask_same_image=True) needs the image ids')
            logits = logits.masked_fill(same_image_mask(image_ids, target), float('-inf'))
        return self.loss_weight * F.cross_entropy(logits, target)
