import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.registry import MODELS


@MODELS.register_module()
class PooledContrastiveLoss(nn.Module):
    """Image-text contrastive loss on pooled entities (paper Table 2b ablation).

    Replaces the fusion module and C^3: the image embedding is the mean of its
    entities, and image and text embeddings are matched with a symmetric InfoNCE
    (CLIP-style) with a learned temperature. At inference the segmentor scores each
    entity by its cosine similarity to the text (softmax over entities, same
    temperature).

    Args:
        init_temperature: initial temperature (learned as its log).
        mask_same_image: as in :class:`C3Loss`.
        loss_weight: multiplies the loss.
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self,
                 init_temperature: float = 0.07,
                 mask_same_image: bool = False,
                 loss_weight: float = 1.,
                 loss_name: str = 'loss_itc'):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.tensor(float(init_temperature)).log())
        self.mask_same_image = mask_same_image
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def relevance(self, entities: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """A^fuse substitute: softmax over K of cos(entity_k, x^T) / temperature, (B, K)."""
        sim = torch.einsum('bkd,bd->bk', F.normalize(entities, dim=-1),
                           F.normalize(text, dim=-1))
        return (sim / self.log_temperature.exp()).softmax(dim=-1)

    def forward(self, entities: torch.Tensor, text: torch.Tensor, image_ids: torch.Tensor,
                offset: int = 0) -> torch.Tensor:
        """
        Args:
            entities: (B_i, K, D) entities of all images (of every rank when gathered).
            text: (B_t, D) the local texts; text j matches image ``offset + j``.
            image_ids: (B_i,) image ids, to mask same-image negatives.
            offset: index of the first local sample among the images.

        Returns:
            Tensor: scalar loss (mean of the text->image and image->text terms over the
            local pairs).
        """
        img = F.normalize(entities.mean(dim=1), dim=-1)
        txt = F.normalize(text, dim=-1)
        logits = txt @ img.t() / self.log_temperature.exp()  # (B_t, B_i)
        target = torch.arange(text.shape[0], device=text.device) + offset
        if self.mask_same_image:
            logits = logits.masked_fill(same_image_mask(image_ids, target), float('-inf'))
        t2i = F.cross_entropy(logits, target)
        local = logits[:, offset:offset + text.shape[0]]
        i2t = F.cross_entropy(local.t(), torch.arange(text.shape[0], device=text.device))
        return self.loss_weight * 0.5 * (t2i + i2t)


def same_image_mask(image_ids: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B_t, B_i) True where image i shows the same image as text t's positive, i != positive."""
    same = image_ids[target][:, None] == image_ids[None, :]
    same[torch.arange(len(target)), target] = False
    return same
