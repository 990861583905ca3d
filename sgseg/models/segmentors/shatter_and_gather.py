"""The Shatter-and-Gather segmentor: entities from the image, relevance from the text."""
import os.path as osp
import zlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.nn as nn
import torch.distributed as dist
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.structures import SegDataSample

from sgseg.registry import MODELS, POSTPROCESSORS
from sgseg.utils.options import check_options

INFERENCE_SCHEMES = ('fuse', 'avg', 'max', 'min')


def image_key(meta: dict) -> str:
    """What seeds an image's slot draw: its ``image_id``, else its file name.

    Not the path: the same image gets the same entities wherever the data lives.
    """
    if meta.get('image_id') is not None:
        return f"image_id {meta['image_id']}"
    if meta.get('img_path'):
        return f"file {osp.basename(meta['img_path'])}"
    raise KeyError('a sample has neither image_id nor img_path to seed its slot draw '
                   f'(metainfo keys: {sorted(meta)})')


def slot_generators(seed: int, keys: Sequence[str], draw: int = 0) -> List[torch.Generator]:
    """One generator per image, seeded by (seed, the image's key, draw index)."""
    gens = []
    for key in keys:
        gen = torch.Generator()
        gen.manual_seed(zlib.crc32(f'{seed}|{key}|{draw}'.encode()))
        gens.append(gen)
    return gens


def _all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated along dim 0, in rank order (no gradient)."""
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor)
    return torch.cat(parts, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """``all_gather`` along dim 0 whose backward sums every rank's gradient of this
    rank's slice (each rank's loss reaches the other ranks' samples)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.size = dist.get_rank(), tensor.shape[0]
        return _all_gather_cat(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.size:(ctx.rank + 1) * ctx.size]


def gather_across_ranks(entities: torch.Tensor,
                        image_ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """Entities and image ids of every rank, for a cross-rank negative pool.

    The gather keeps gradients (each rank's loss reaches the other ranks' images,
    which DDP's gradient averaging then combines). Without distribution it returns
    its inputs.

    Returns:
        tuple: entities (W*B, K, D), ids (W*B,), and the offset ``rank * B`` of this
        rank's samples.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return entities, image_ids, 0
    all_entities = _GatherWithGrad.apply(entities.contiguous())
    all_ids = _all_gather_cat(image_ids.contiguous())
    return all_entities, all_ids, dist.get_rank() * entities.shape[0]


@MODELS.register_module()
class ShatterAndGather(BaseSegmentor):
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
        test_cfg=dict(inference_scheme=INFERENCE_SCHEMES, threshold=float,
                      num_slot_samples=int, seed=(int, type(None)), crf=(dict, type(None))))

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
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.text_encoder = MODELS.build(text_encoder)
        self.vis_proj = nn.Linear(self.backbone.embed_dims, embed_dims)
        self.text_proj = nn.Linear(self.text_encoder.embed_dims, embed_dims)
        if text_pooling not in ('cls', 'mean'):
            raise ValueError(f"text_pooling must be 'cls' or 'mean', got {text_pooling!r}")
        self.text_pooling = text_pooling
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
        for name, options in (('train_cfg', train_cfg), ('test_cfg', test_cfg)):
            check_options(options or {}, self.OPTION_SCHEMAS[name], name)
        self.train_cfg = train_cfg or {}
        self.test_cfg = dict(inference_scheme='fuse', threshold=0.5, num_slot_samples=1,
                             seed=None, crf=None)
        self.test_cfg.update(test_cfg or {})
        self._crf = None
        # Multiplies every loss; a warm-up hook may ramp it (the authors' recipe).
        self.loss_scale = 1.

    # ---------------------------------------------------------------- features
    def extract_feat(self, imgs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """(B, 3, H, W) -> ViT tokens (B, N, C_v) and the grid size (h, w)."""
        return self.backbone(imgs)

    def encode_text(self, inputs: dict) -> torch.Tensor:
        """Projected sentence feature x^T, (B, D) (not normalised)."""
        feats, mask = self.text_encoder(inputs['input_ids'], inputs['attention_mask'])
        if self.text_pooling == 'cls':
            return self.text_proj(feats[:, 0])
        mask = mask[..., None].to(feats.dtype)
        return self.text_proj((feats * mask).sum(1) / mask.sum(1).clamp_min(1))

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
        if self.loss_scale != 1.:
            losses = {k: v * self.loss_scale for k, v in losses.items()}
        return losses

    @staticmethod
    def image_ids(data_samples: Sequence[SegDataSample]) -> torch.Tensor:
        """(B,) integer ids, equal for samples of the same image (on any rank)."""
        keys = [str(ds.metainfo.get('image_id', ds.metainfo.get('img_path')))
                for ds in data_samples]
        return torch.tensor([zlib.crc32(k.encode()) for k in keys], dtype=torch.long)

    def relevance(self, entities: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """A^fuse (B, K): the fusion head's attention, or the pooled-ITC similarity."""
        if self.fusion_head is not None:
            return self.fusion_head(entities, text)[1]
        return self.itc_loss.relevance(entities, text)

    # ---------------------------------------------------------------- inference
    @staticmethod
    def owner(inputs: dict) -> torch.Tensor:
        """(P,) index in ``inputs['imgs']`` of each sentence's image.

        ``inputs['owner']`` when the batch groups several sentences per image
        (``RefSegDataPreProcessor``), else one sentence per image.
        """
        if 'owner' in inputs:
            return inputs['owner']
        num_images, num_texts = inputs['imgs'].shape[0], inputs['input_ids'].shape[0]
        if num_images != num_texts:
            raise ValueError(f'{num_texts} sentences for {num_images} images: give '
                             "inputs['owner'], the image index of each sentence")
        return torch.arange(num_images, device=inputs['imgs'].device)

    def image_generators(self, data_samples: Optional[Sequence[SegDataSample]],
                         owner: torch.Tensor, num_images: int
                         ) -> Callable[[int], Optional[List[torch.Generator]]]:
        """Draw index -> one generator per image when ``test_cfg.seed`` is set, else None.

        An image's generator is seeded by (seed, the image's :func:`image_key`, draw),
        taken from the first of its sentences: all sentences of an image share its
        entities, whatever the batch, the process or the order of the sentences.
        """
        seed = self.test_cfg['seed']
        if seed is None or data_samples is None:
            return lambda draw: None
        first = {}
        for p, i in enumerate(owner.tolist()):
            first.setdefault(i, p)
        missing = sorted(set(range(num_images)) - set(first))
        if missing:
            raise ValueError(f'images {missing} of the batch have no sentence')
        keys = [image_key(data_samples[first[i]].metainfo) for i in range(num_images)]
        return lambda draw: slot_generators(seed, keys, draw)

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

    def score_grid(self, inputs: dict, data_samples: Optional[Sequence[SegDataSample]] = None
                   ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Tuple[int, int]]:
        """Scores on the patch grid, averaged over ``num_slot_samples`` slot draws.

        Each image of ``inputs['imgs']`` is encoded once for all its sentences (see
        :meth:`owner`).

        Returns:
            tuple: scores (P, h, w) of the P sentences, A^slot (B, N, K) of the B
            images and A^fuse (P, K) of the last draw, and the grid size.
        """
        text = self.encode_text(inputs)
        vis, grid = self.extract_feat(inputs['imgs'])
        owner = self.owner(inputs)
        return self.score_pairs(self.vis_proj(vis), grid, text, owner,
                                self.image_generators(data_samples, owner, vis.shape[0]))

    def score_pairs(self, feats: torch.Tensor, grid: Tuple[int, int], text: torch.Tensor,
                    owner: torch.Tensor,
                    generators: Callable[[int], Optional[List[torch.Generator]]]
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Tuple[int, int]]:
        """Grid scores of (image, sentence) pairs; each image is encoded once.

        Args:
            feats: (B_i, N, D) projected features of B_i images.
            grid: (h, w).
            text: (P, D) textual features of P sentences.
            owner: (P,) index of each sentence's image.
            generators: draw index -> per-image generators (or None).

        Returns:
            tuple: scores (P, h, w), A^slot (B_i, N, K) and A^fuse (P, K) of the last
            draw, and the grid size.
        """
        scheme = self.test_cfg['inference_scheme']
        draws = self.test_cfg['num_slot_samples']
        scores = 0.
        for draw in range(draws):
            entities, attn_slot = self.discover(feats, grid, generators(draw))
            attn_fuse = self.relevance(entities[owner], text)
            scores = scores + self.combine(attn_slot[owner], attn_fuse, scheme)
        scores = scores / draws
        return scores.reshape(-1, *grid), attn_slot, attn_fuse, grid

    def predict(self, inputs: dict,
                data_samples: Optional[Sequence[SegDataSample]] = None) -> List[SegDataSample]:
        """Score map and mask at the original image size for each sentence.

        ``data_samples`` are the P sentences (their images given by :meth:`owner`).
        Each returned sample carries ``seg_logits`` ((1, H0, W0) min-max normalised
        scores), ``pred_sem_seg`` ((1, H0, W0) uint8 mask at ``test_cfg.threshold``),
        ``attn_slot`` (N, K, its image's), ``attn_fuse`` (K,) and ``grid_size`` for
        visualisation.
        """
        if data_samples is None:
            H, W = inputs['imgs'].shape[-2:]
            data_samples = [SegDataSample(metainfo=dict(ori_shape=(H, W), img_shape=(H, W)))
                            for _ in range(inputs['input_ids'].shape[0])]
        scores, attn_slot, attn_fuse, grid = self.score_grid(inputs, data_samples)
        pad_shape = inputs['imgs'].shape[-2:]
        owner = self.owner(inputs)
        for i in owner.unique().tolist():
            # all sentences of an image are brought to its size together
            rows = (owner == i).nonzero()[:, 0].tolist()
            meta = data_samples[rows[0]].metainfo
            maps = self.to_original_size(scores[rows], meta, pad_shape)
            image = self.load_rgb(meta) if self.test_cfg['crf'] else None
            for p, score in zip(rows, maps):
                if image is not None:
                    score = self.refine_with_crf(score, image)
                mask = score >= self.test_cfg['threshold']
                ds = data_samples[p]
                ds.set_data(dict(seg_logits=PixelData(data=score[None]),
                                 pred_sem_seg=PixelData(data=mask[None].to(torch.uint8))))
                ds.set_field(attn_slot[i], 'attn_slot')
                ds.set_field(attn_fuse[p], 'attn_fuse')
                ds.set_metainfo(dict(grid_size=grid))
        return list(data_samples)

    @staticmethod
    def to_original_size(scores: torch.Tensor, meta: dict,
                         pad_shape: Sequence[int]) -> torch.Tensor:
        """Grid scores (..., h, w) -> min-max normalised scores (..., H0, W0) at
        ``ori_shape``, each map normalised on its own."""
        img_h, img_w = meta.get('img_shape', pad_shape)[:2]
        x = scores.reshape(-1, 1, *scores.shape[-2:])
        if (img_h, img_w) != tuple(pad_shape):
            # keep-ratio + pad: drop the padded border before going to the original size
            x = F.interpolate(x, size=tuple(pad_shape), mode='bilinear', align_corners=False)
            x = x[..., :img_h, :img_w]
        ori_h, ori_w = meta['ori_shape'][:2]
        x = F.interpolate(x, size=(ori_h, ori_w), mode='bilinear', align_corners=False)[:, 0]
        low = x.amin(dim=(-2, -1), keepdim=True)
        high = x.amax(dim=(-2, -1), keepdim=True)
        x = (x - low) / (high - low).clamp_min(1e-12)
        return x.reshape(*scores.shape[:-2], ori_h, ori_w)

    @staticmethod
    def load_rgb(meta: dict) -> np.ndarray:
        """The original image (H0, W0, 3) RGB, its EXIF orientation ignored as
        ``LoadRefImage`` does."""
        # mmcv applies channel_order='rgb' to the plain 'color' flag only
        return mmcv.bgr2rgb(mmcv.imread(meta['img_path'], flag='color_ignore_orientation'))

    def refine_with_crf(self, score: torch.Tensor, image: np.ndarray) -> torch.Tensor:
        """DenseCRF of a score map (H0, W0) on the original RGB image (appendix D)."""
        if self._crf is None:
            crf = self.test_cfg['crf']
            self._crf = POSTPROCESSORS.build(dict(type='DenseCRF') if crf is True else crf)
        refined = self._crf(image, score.cpu().numpy())
        return torch.from_numpy(refined).to(score)

    def _forward(self, inputs: dict, data_samples=None) -> torch.Tensor:
        """Tensor mode: score maps on the patch grid, (P, h, w)."""
        return self.score_grid(inputs, data_samples)[0]

    def encode_decode(self, inputs: dict, batch_img_metas: List[dict]) -> torch.Tensor:
        """Score maps on the patch grid, (P, 1, h, w) (mmseg's interface)."""
        return self.score_grid(inputs)[0][:, None]
