"""TSEG: referring segmentation from patch-sentence similarities (Strudel et al., 2022)."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from sgseg.registry import MODELS
from .base_refseg import BaseRefSegmentor, Generators, PairScores, gather_across_ranks


@MODELS.register_module()
class TSEG(BaseRefSegmentor):
    """Text-grounded segmentation learned from image-sentence pairs (TSEG).

    The patch tokens and the sentence feature are projected to a common space; the
    cosine similarity of every patch to the sentence is the sentence's map over the
    patch grid. Training classifies every image of the batch against every sentence
    of the batch (multi-label: positive for the sentences written for that image,
    found by image id), each image-sentence score pooled from the similarities
    through a soft assignment of the image's patches to the batch's sentences
    (:class:`~sgseg.models.losses.PatchAssignmentLoss`); no mask is read. At
    inference the sentence's similarity map is resized to the original image,
    min-max normalised and thresholded (the base's :meth:`predict`).

    Args:
        backbone: visual backbone config (``TimmViT``), returns (B, N, C_v) tokens.
        text_encoder: text encoder config (``HFTextEncoder``).
        loss: ``PatchAssignmentLoss`` config.
        embed_dims: D, the width both modalities are projected to.
        text_pooling: the sentence feature: ``'cls'`` ([CLS] token) or ``'mean'`` (mean
            over real tokens).
        data_preprocessor: ``RefSegDataPreProcessor`` config.
        train_cfg: training options:

            - ``gather_negatives``: in distributed training, classify each image
              against the sentences of every process (gradients flow back to each
              process's sentences), so that the loss is the single-process loss of
              the global batch. Default False: the local batch.
        test_cfg: the base's ``threshold`` (0.5) and ``crf``; TSEG draws nothing at
            test time, so ``seed`` changes nothing.
        init_cfg: mmengine init config.
    """

    OPTION_SCHEMAS = dict(train_cfg=dict(gather_negatives=bool),
                          test_cfg=BaseRefSegmentor.OPTION_SCHEMAS['test_cfg'])

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 loss: dict,
                 embed_dims: int = 512,
                 text_pooling: str = 'cls',
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone, text_encoder, text_pooling=text_pooling,
                         data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        self.vis_proj = nn.Linear(self.backbone.embed_dims, embed_dims)
        self.text_proj = nn.Linear(self.text_encoder.embed_dims, embed_dims)
        self.patch_loss = MODELS.build(loss)

    def encode_image(self, imgs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """(B, 3, H, W) -> L2-normalised patch embeddings (B, N, D) and the grid (h, w)."""
        tokens, grid = self.extract_feat(imgs)
        return F.normalize(self.vis_proj(tokens), dim=-1), grid

    @staticmethod
    def similarity(patches: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Cosine similarity (B, N, P) of the patches (B, N, D), normalised, to P
        sentences (P, D)."""
        return torch.einsum('bnd,pd->bnp', patches, F.normalize(text, dim=-1))

    def loss(self, inputs: dict, data_samples: Sequence[SegDataSample]) -> Dict[str, torch.Tensor]:
        """Multi-label patch-assignment loss of a batch of image-sentence pairs.

        Reads no mask: only the images, the tokens and the image ids.
        """
        text = self.encode_text(inputs)
        patches, _ = self.encode_image(inputs['imgs'])
        image_ids = self.image_ids(data_samples).to(text.device)
        texts, text_ids = text, image_ids
        if self.train_cfg.get('gather_negatives', False):
            texts, text_ids, _ = gather_across_ranks(text, image_ids)
        loss = self.patch_loss(self.similarity(patches, texts), image_ids, text_ids)
        return self.scale_losses({self.patch_loss.loss_name: loss})

    def score_pairs(self, feats: torch.Tensor, grid: Tuple[int, int], text: torch.Tensor,
                    owner: torch.Tensor, generators: Generators) -> PairScores:
        """Each sentence's similarity map over its image's patches.

        Args:
            feats: (B_i, N, D) normalised patch embeddings (:meth:`encode_image`).
            grid: (h, w).
            text: (P, D) sentence features.
            owner: (P,) index of each sentence's image.
            generators: unused (TSEG draws nothing).

        Returns:
            tuple: scores (P, h, w), the cosine similarities, and
            ``{'similarity': scores}`` for pictures.
        """
        sim = torch.einsum('pnd,pd->pn', feats[owner], F.normalize(text, dim=-1))
        sim = sim.reshape(-1, *grid)
        return sim, dict(similarity=sim)
