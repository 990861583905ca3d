import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.registry import MODELS
from .pooled_contrastive_loss import same_image_mask


@MODELS.register_module()
class CLIPContrastiveLoss(nn.Module):
    """CLIP's symmetric image-text InfoNCE on pooled embeddings, learned temperature.

    ``logits = exp(s) * cos(text_j, image_i)``, with the logit scale ``s`` learned (as
    CLIP, initialised at log(1 / ``init_temperature``), kept at most log(``max_logit_scale``));
    the loss is the mean of the text->image and the image->text cross-entropies, the
    positive of text j being image ``offset + j``.

    Two sentences of the same image in a batch: with ``mask_same_image`` off (the
    default, as ShatterAndGather's C^3 loss in every recipe) the other one stays a
    negative; on, it leaves the denominator in both directions (a text's other images
    that are its own image; an image's other texts that describe it).

    Args:
        init_temperature: initial temperature (CLIP: 0.07).
        learn_temperature: learn the logit scale (CLIP) or keep it fixed.
        max_logit_scale: the logit scale is clamped to at most this (CLIP: 100).
        mask_same_image: drop same-image false negatives (see above).
        loss_weight: multiplies the loss.
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self,
                 init_temperature: float = 0.07,
                 learn_temperature: bool = True,
                 max_logit_scale: float = 100.,
                 mask_same_image: bool = False,
                 loss_weight: float = 1.,
                 loss_name: str = 'loss_itc'):
        super().__init__()
        if not (0 < init_temperature and 1 / init_temperature <= max_logit_scale):
            raise ValueError(f'init_temperature must be in [1 / max_logit_scale '
                             f'({1 / max_logit_scale:g}), inf), got {init_temperature}')
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)),
                                        requires_grad=learn_temperature)
        self.max_log_scale = math.log(max_logit_scale)
        self.mask_same_image = mask_same_image
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def logits(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarities (B_t, B_i) of every text with every image."""
        scale = self.logit_scale.clamp(max=self.max_log_scale).exp()
        return scale * F.normalize(text, dim=-1) @ F.normalize(image, dim=-1).t()

    def forward(self, image: torch.Tensor, text: torch.Tensor, image_ids: torch.Tensor,
                offset: int = 0) -> torch.Tensor:
        """
        Args:
            image: (B_i, D) image embeddings (of every rank when gathered).
            text: (B_t, D) the local sentence embeddings; text j matches image
                ``offset + j``.
            image_ids: (B_i,) image ids, equal for samples of the same image.
            offset: index of the first local sample among the images.

        Returns:
            Tensor: scalar loss.
        """
        logits = self.logits(image, text)  # (B_t, B_i)
        local = torch.arange(text.shape[0], device=text.device)
        target = local + offset
        # image -> text: each local image against the local texts
        i2t = logits[:, offset:offset + text.shape[0]].t()
        if self.mask_same_image:
            logits = logits.masked_fill(same_image_mask(image_ids, target), float('-inf'))
            i2t = i2t.masked_fill(same_image_mask(image_ids[target], local), float('-inf'))
        return self.loss_weight * 0.5 * (F.cross_entropy(logits, target)
                                         + F.cross_entropy(i2t, local))
