"""MaskCLIP (Zhou et al., ECCV 2022): dense patch-text similarity of a CLIP-style dual
encoder, read through the value path of the ViT's last attention block."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from sgseg.registry import MODELS
from .base_refseg import BaseRefSegmentor, Generators, PairScores, gather_across_ranks


@MODELS.register_module()
class MaskCLIP(BaseRefSegmentor):
    """MaskCLIP as a referring segmentor.

    Training (when there are no CLIP weights to start from, or to fine-tune them): a
    CLIP-style dual encoder learned from the image-sentence pairs with CLIP's symmetric
    InfoNCE (:class:`CLIPContrastiveLoss`); the image embedding is the ViT's class
    token after its final LayerNorm, the sentence embedding the text encoder's pooled
    feature (``text_pooling``), each projected to D. No mask is read.

    Inference (MaskCLIP's rule): dense features from the value path of the last
    attention block (``backbone.forward_value_path``: value and output projections,
    no query-key attention, then the final LayerNorm, as the class token is read),
    projected to D by the image projection; each patch is scored by its cosine
    similarity with the sentence embedding. ``predict`` then min-max normalises each
    map at the original image size and thresholds it at ``test_cfg.threshold``. The
    patch similarity map is the intermediate map (``similarity``, (h, w)).

    With a CLIP checkpoint (backbone ``HFCLIPVision``, text encoder ``HFCLIPText``,
    ``text_pooling='last'``) the towers' own projections are used and ``embed_dims``
    must equal CLIP's projection width; otherwise bias-free linear projections to
    ``embed_dims`` are learned, as CLIP's.

    Args:
        backbone: ``TimmViT`` or ``HFCLIPVision`` config (with a class token).
        text_encoder: ``HFTextEncoder`` or ``HFCLIPText`` config.
        embed_dims: D, the joint embedding width.
        text_pooling: ``'cls'``, ``'mean'`` or ``'last'`` (CLIP's end-of-text token).
        contrastive_loss: ``CLIPContrastiveLoss`` config (temperature, same-image
            masking).
        data_preprocessor: ``RefSegDataPreProcessor`` config.
        train_cfg: ``gather_negatives``: in distributed training, contrast each
            sentence with the images of every rank (default False: the local batch).
        test_cfg: the common options (``threshold``, ``seed`` (unused: no draw),
            ``crf``).
        init_cfg: mmengine init config.
    """

    OPTION_SCHEMAS = dict(train_cfg=dict(gather_negatives=bool),
                          test_cfg=dict(BaseRefSegmentor.OPTION_SCHEMAS['test_cfg']))

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 embed_dims: int = 512,
                 text_pooling: str = 'cls',
                 contrastive_loss: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone, text_encoder, text_pooling=text_pooling,
                         data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        for name in ('forward_cls', 'forward_value_path'):
            if not hasattr(self.backbone, name):
                raise TypeError(f'MaskCLIP: backbone {type(self.backbone).__name__} has no '
                                f'{name}() (use TimmViT or HFCLIPVision)')
        self.vis_proj = self._projection('backbone', self.backbone, embed_dims)
        self.text_proj = self._projection('text_encoder', self.text_encoder, embed_dims)
        self.contrastive_loss = MODELS.build(contrastive_loss
                                             or dict(type='CLIPContrastiveLoss'))

    @staticmethod
    def _projection(key: str, tower: nn.Module, embed_dims: int) -> Optional[nn.Linear]:
        """A learned bias-free projection to D, or None when the tower brings its own."""
        own = getattr(tower, 'projection', None)
        if own is None:
            return nn.Linear(tower.embed_dims, embed_dims, bias=False)
        if own.out_features != embed_dims:
            raise ValueError(f'MaskCLIP: embed_dims ({embed_dims}) must equal the '
                             f"{key}'s own projection width ({own.out_features})")
        return None

    # ---------------------------------------------------------------- features
    def project_image(self, feats: torch.Tensor) -> torch.Tensor:
        """(..., C_v) -> (..., D) by the learned or the CLIP tower's projection."""
        proj = self.backbone.projection if self.vis_proj is None else self.vis_proj
        return proj(feats)

    def project_text(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, C_t) -> (B, D) by the learned or the CLIP tower's projection."""
        proj = self.text_encoder.projection if self.text_proj is None else self.text_proj
        return proj(pooled)

    def embed_image(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> the pooled image embedding (B, D) (the class token)."""
        return self.project_image(self.backbone.forward_cls(imgs))

    def encode_image(self, imgs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """(B, 3, H, W) -> dense value-path embeddings (B, N, D) and the grid (h, w)."""
        dense, grid = self.backbone.forward_value_path(imgs)
        return self.project_image(dense), grid

    # ---------------------------------------------------------------- training
    def loss(self, inputs: dict, data_samples: Sequence[SegDataSample]) -> Dict[str, torch.Tensor]:
        """CLIP's image-text contrastive loss of a batch of image-sentence pairs.

        Reads no mask: only the images, the tokens and the image ids.
        """
        text = self.encode_text(inputs)
        image = self.embed_image(inputs['imgs'])
        image_ids = self.image_ids(data_samples).to(text.device)
        offset = 0
        if self.train_cfg.get('gather_negatives', False):
            image, image_ids, offset = gather_across_ranks(image, image_ids)
        loss = self.contrastive_loss(image, text, image_ids, offset)
        return self.scale_losses({self.contrastive_loss.loss_name: loss})

    # ---------------------------------------------------------------- inference
    def score_pairs(self, feats: torch.Tensor, grid: Tuple[int, int], text: torch.Tensor,
                    owner: torch.Tensor, generators: Generators) -> PairScores:
        """Cosine similarity of every patch with each sentence.

        Args:
            feats: (B_i, N, D) dense embeddings of B_i images (:meth:`encode_image`).
            grid: (h, w).
            text: (P, D) sentence embeddings.
            owner: (P,) index of each sentence's image.
            generators: unused (MaskCLIP draws nothing).

        Returns:
            tuple: scores (P, h, w), and ``similarity`` (P, h, w), the same map.
        """
        patches = F.normalize(feats, dim=-1)[owner]
        sim = torch.einsum('pnd,pd->pn', patches, F.normalize(text, dim=-1))
        sim = sim.reshape(-1, *grid)
        return sim, dict(similarity=sim)
