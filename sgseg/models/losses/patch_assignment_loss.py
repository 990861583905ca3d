"""TSEG's image-level objective: multi-label classification of the batch's sentences,
each sentence's image score pooled from the patch-sentence similarities through a
soft assignment of every patch to the sentences."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.registry import MODELS


def assignment_pool(sim: torch.Tensor, assign_temperature: float, lse_r: float
                    ) -> torch.Tensor:
    """Image-sentence scores from patch-sentence similarities.

    Every patch is softly assigned to the sentences (softmax over the sentences,
    temperature ``assign_temperature``); a sentence's score on an image is the
    log-sum-exp (sharpness ``lse_r``) of its similarities over the patches, each patch
    weighted by its share assigned to that sentence::

        a[b, n, j] = softmax_j(sim[b, n, j] / assign_temperature)
        y[b, j] = 1/r * log( sum_n a[b, n, j] exp(r sim[b, n, j]) / sum_n a[b, n, j] )

    ``lse_r`` -> 0 gives the assignment-weighted mean, ``lse_r`` -> inf the maximum over
    the patches the sentence is assigned.

    Args:
        sim: (B, N, P) similarity of each of the N patches of B images to P sentences.
        assign_temperature: temperature of the softmax over sentences.
        lse_r: sharpness of the pooling over patches (> 0).

    Returns:
        Tensor: (B, P) scores, in the range of ``sim``.
    """
    log_assign = F.log_softmax(sim / assign_temperature, dim=-1)
    weighted = torch.logsumexp(lse_r * sim + log_assign, dim=1)
    return (weighted - torch.logsumexp(log_assign, dim=1)) / lse_r


@MODELS.register_module()
class PatchAssignmentLoss(nn.Module):
    """Multi-label classification of the batch's sentences from patch similarities.

    Each image of the batch is classified against all P sentences of the batch: a
    sentence is a positive label of every image it was written for (its own sample,
    and any other sample of the same image, by image id), a negative of the others.
    The image-sentence score is :func:`assignment_pool` of the patch-sentence
    similarities; the logit is ``scale * score + bias`` with a learned scale and
    bias, and the loss a binary cross-entropy summed over the sentences and averaged
    over the images.

    Args:
        assign_temperature: temperature of the patch-to-sentence softmax.
        lse_r: sharpness of the pooling over patches.
        init_scale: initial logit scale (learned as its log).
        init_bias: initial logit bias (learned); negative, as most pairs are negatives.
        loss_weight: multiplies the loss.
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self,
                 assign_temperature: float = 0.1,
                 lse_r: float = 50.,
                 init_scale: float = 10.,
                 init_bias: float = -10.,
                 loss_weight: float = 1.,
                 loss_name: str = 'loss_tseg'):
        super().__init__()
        if assign_temperature <= 0 or lse_r <= 0 or init_scale <= 0:
            raise ValueError('PatchAssignmentLoss: assign_temperature, lse_r and init_scale '
                             f'must be positive, got {assign_temperature}, {lse_r}, '
                             f'{init_scale}')
        self.assign_temperature = assign_temperature
        self.lse_r = lse_r
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def logits(self, sim: torch.Tensor) -> torch.Tensor:
        """(B, N, P) patch-sentence similarities -> (B, P) classification logits."""
        score = assignment_pool(sim, self.assign_temperature, self.lse_r)
        return score * self.log_scale.exp() + self.bias

    def forward(self, sim: torch.Tensor, image_ids: torch.Tensor,
                text_image_ids: torch.Tensor) -> torch.Tensor:
        """
        Args:
            sim: (B, N, P) similarity of the patches of B images to P sentences.
            image_ids: (B,) id of each image.
            text_image_ids: (P,) id of the image each sentence was written for.

        Returns:
            Tensor: scalar loss.
        """
        labels = (image_ids[:, None] == text_image_ids[None, :]).to(sim.dtype)
        loss = F.binary_cross_entropy_with_logits(self.logits(sim), labels, reduction='sum')
        return self.loss_weight * loss / sim.shape[0]
