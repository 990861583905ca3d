"""The Shatter-and-Gather segmentor: entities from the image, relevance from the text."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmseg.structures import SegDataSample

from sgseg.registry import MODELS
from .base_refseg import (BaseRefSegmentor, Generators, PairScores, gather_across_ranks,
                          image_key, slot_generators)

__all__ = ['INFERENCE_SCHEMES', 'ShatterAndGather', 'gather_across_ranks', 'image_key',
           'slot_generators']

INFERENCE_SCHEMES = ('fuse', 'avg', 'max', 'min')


@MODELS.register_module()
class ShatterAndGather(BaseRefSegmentor):
    """Referring segmentation learned from image-text pairs (SaG, ICCV 2023).

    The image's patch tokens are *shattered* into K entities (bottom-up entity
    discovery); the sentence *gathers* the relevant ones (top-down fusion). Training
    uses the C^3 loss over all B x B image-text pairs and the feature reconstruction
    loss; no mask is ever read. The mask of a sentence is ``A^slot . A^fuse`` on the
    patch grid, resized to the original image, min-max normalised and thresholded.

    Args:
        backbone: visual backbone config (``TimmViT``), returns (B, N, C_v) tokens.
        text_encoder: text encoder config (``HFTextEncoder``).
        fusion_head: ``FusionHead`` config; None replaces fusion + C^3 by an
            image-text contrastive loss on pooled entities (Table 2b, ``itc_loss``).
        c3_loss: ``C3Loss`` config (with a fusion head).
        itc_loss: ``PooledContrastiveLoss`` config (without a fusion head).
        entity_discovery: ``EntityDiscovery`` config, or None to fuse the text with
            the patch tokens directly (Table 2a, "w/o entity discovery module").
        recon_loss: ``ReconstructionLoss`` config, or None to train without it
            (its ``sample_ratio`` < 1 takes the loss at positions drawn at each step
            from torch's default generator, which the Runner seeds).
        embed_dims: D, the width both modalities are projected to.
        text_pooling: how x^T is read from the text encoder's tokens: ``'cls'`` (the
            [CLS] token, as the paper does with a fine-tuned BERT) or ``'mean'`` (the
            mean over real tokens; the sentence embedding of encoders trained with mean
            pooling, such as the frozen all-MiniLM-L6-v2 of the CPU recipe).
        data_preprocessor: ``RefSegDataPreProcessor`` config.
        train_cfg: training options:

            - ``gather_negatives``: in distributed training, contrast each text with
              the images of every rank (a larger negative pool; gradients flow back to
              each rank's images). Default False: each rank's local batch, as the
              paper's single-process batch of 32.
        test_cfg: inference options:

            - ``inference_scheme``: ``'fuse'`` (A^slot . A^fuse, the paper),
              ``'avg'`` (uniform A^fuse), ``'max'`` / ``'min'`` (the single entity with
              the highest / lowest A^fuse) (Table 4b).
            - ``threshold``: tau (0.5).
            - ``num_slot_samples``: average the score map over this many slot draws (1).
            - ``seed``: None draws slots from the global RNG (seeded by the Runner);
              an int gives every image its own generator seeded by (seed, image id)
              (:func:`image_key`), shared by all its sentences, so predictions do not
              depend on batching, on the number of processes or on the order of the
              sentences.
            - ``crf``: None, or a post-processor config (``dict(type='DenseCRF')``).
        init_cfg: mmengine init config.

    ``OPTION_SCHEMAS`` declares the keys of ``train_cfg`` and ``test_cfg`` and their
    types; an unknown key or a wrong-typed value is refused, naming it
    (:func:`sgseg.utils.options.check_options`; tools check it at start-up, through
    :func:`sgseg.engine.check_config_values`).
    """

    OPTION_SCHEMAS = dict(
        train_cfg=dict(gather_negatives=bool),
        test_cfg=dict(BaseRefSegmentor.OPTION_SCHEMAS['test_cfg'],
                      inference_scheme=INFERENCE_SCHEMES, num_slot_samples=int))
    TEST_CFG_DEFAULTS = dict(BaseRefSegmentor.TEST_CFG_DEFAULTS, inference_scheme='fuse',
                             num_slot_samples=1)

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 fusion_head: Optional[dict] = None,
                 c3_loss: Optional[dict] = None,
                 itc_loss: Optional[dict] = None,
                 entity_discovery: Optional[dict] = None,
                 recon_loss: Optional[dict] = None,
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
        self.entity_discovery = None if entity_discovery is None else MODELS.build(
            dict(entity_discovery, embed_dims=embed_dims))
        if (fusion_head is None) != (c3_loss is None) or (c3_loss is None) == (itc_loss is None):
            raise ValueError('give fusion_head and c3_loss (the paper), or neither of them '
                             'and itc_loss (pooled image-text contrastive ablation)')
        self.fusion_head = None if fusion_head is None else MODELS.build(
            dict(fusion_head, embed_dims=embed_dims))
        self.c3_loss = None if c3_loss is None else MODELS.build(c3_loss)
        self.itc_loss = None if itc_loss is None else MODELS.build(itc_loss)
        self.recon_loss = None
        if recon_loss is not None:
            if self.entity_discovery is None:
                raise ValueError('recon_loss reconstructs the features from the entities: '
                                 'set recon_loss=None when entity_discovery is None')
            decoder = dict(embed_dims=embed_dims, out_dims=self.backbone.embed_dims)
            decoder.update(recon_loss.get('decoder', {}))
            self.recon_loss = MODELS.build(dict(recon_loss, decoder=decoder))

    # ---------------------------------------------------------------- features
    def encode_image(self, imgs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """(B, 3, H, W) -> projected patch features (B, N, D) and the grid (h, w)."""
        vis, grid = self.extract_feat(imgs)
        return self.vis_proj(vis), grid

    def discover(self,
                 feats: torch.Tensor,
                 grid_size: Tuple[int, int],
                 generators: Optional[List[torch.Generator]] = None
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Entities (B, K, D) and A^slot (B, N, K) from projected features (B, N, D).

        Without an entity discovery module every patch is an entity (K = N, A^slot
        the identity).
        """
        if self.entity_discovery is None:
            B, N, _ = feats.shape
            eye = torch.eye(N, device=feats.device, dtype=feats.dtype)
            return feats, eye.expand(B, N, N)
        return self.entity_discovery(feats, grid_size, generators)

    # ---------------------------------------------------------------- training
    def loss(self, inputs: dict, data_samples: Sequence[SegDataSample]) -> Dict[str, torch.Tensor]:
        """C^3 (+ reconstruction) losses of a batch of image-sentence pairs.

        Reads no mask: only the images, the tokens and the image ids.
        """
        text = self.encode_text(inputs)
        vis, grid = self.extract_feat(inputs['imgs'])
        entities, _ = self.discover(self.vis_proj(vis), grid)
        image_ids = self.image_ids(data_samples).to(text.device)
        negatives, neg_ids, offset = entities, image_ids, 0
        if self.train_cfg.get('gather_negatives', False):
            negatives, neg_ids, offset = gather_across_ranks(entities, image_ids)
        if self.fusion_head is not None:
            z, _ = self.fusion_head(negatives, text, pairwise=True)
            losses = {self.c3_loss.loss_name: self.c3_loss(z, text, neg_ids, offset)}
        else:
            losses = {self.itc_loss.loss_name: self.itc_loss(negatives, text, neg_ids, offset)}
        if self.recon_loss is not None:
            losses[self.recon_loss.loss_name] = self.recon_loss(entities, vis, grid)
        return self.scale_losses(losses)

    def relevance(self, entities: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """A^fuse (B, K): the fusion head's attention, or the pooled-ITC similarity."""
        if self.fusion_head is not None:
            return self.fusion_head(entities, text)[1]
        return self.itc_loss.relevance(entities, text)

    # ---------------------------------------------------------------- inference
    @staticmethod
    def combine(attn_slot: torch.Tensor, attn_fuse: torch.Tensor,
                scheme: str = 'fuse') -> torch.Tensor:
        """Patch scores (B, N) from A^slot (B, N, K) and A^fuse (B, K) (Sec. 3.5)."""
        if scheme == 'fuse':
            return torch.einsum('bnk,bk->bn', attn_slot, attn_fuse)
        if scheme == 'avg':
            return attn_slot.mean(dim=-1)
        pick = attn_fuse.argmax(-1) if scheme == 'max' else attn_fuse.argmin(-1)
        return attn_slot.gather(2, pick[:, None, None].expand(-1, attn_slot.shape[1], 1))[..., 0]

    def score_pairs(self, feats: torch.Tensor, grid: Tuple[int, int], text: torch.Tensor,
                    owner: torch.Tensor, generators: Generators) -> PairScores:
        """Grid scores of (image, sentence) pairs, averaged over ``num_slot_samples``
        slot draws; each image is shattered once per draw.

        Args:
            feats: (B_i, N, D) projected features of B_i images.
            grid: (h, w).
            text: (P, D) textual features of P sentences.
            owner: (P,) index of each sentence's image.
            generators: draw index -> per-image generators (or None).

        Returns:
            tuple: scores (P, h, w), and the maps of the last draw: ``attn_slot``
            (P, N, K), the A^slot of each sentence's image, and ``attn_fuse`` (P, K).
        """
        scheme = self.test_cfg['inference_scheme']
        draws = self.test_cfg['num_slot_samples']
        scores = 0.
        for draw in range(draws):
            entities, attn_slot = self.discover(feats, grid, generators(draw))
            attn_fuse = self.relevance(entities[owner], text)
            scores = scores + self.combine(attn_slot[owner], attn_fuse, scheme)
        scores = scores / draws
        return scores.reshape(-1, *grid), dict(attn_slot=attn_slot[owner], attn_fuse=attn_fuse)
