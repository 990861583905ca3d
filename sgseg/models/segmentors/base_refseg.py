"""What every referring segmentor learned from image-text pairs shares.

A method subclasses :class:`BaseRefSegmentor` and writes its training loss
(:meth:`~BaseRefSegmentor.loss`), how an image becomes the features its scores are read
from (:meth:`~BaseRefSegmentor.encode_image`) and how the scores of (image, sentence)
pairs are read on the patch grid (:meth:`~BaseRefSegmentor.score_pairs`). The rest is
common: text encoding and pooling, grouping of several sentences per image, per-image
seeded generators, resizing to the original image, min-max normalisation, threshold,
DenseCRF, and the intermediate maps each prediction carries for pictures.
"""
import os.path as osp
import zlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.structures import SegDataSample

from sgseg.postprocess.dense_crf import refine_score
from sgseg.registry import MODELS, POSTPROCESSORS
from sgseg.utils.options import check_options

# What ``score_pairs`` returns: grid scores (P, h, w) and named maps, each (P, ...).
PairScores = Tuple[torch.Tensor, Dict[str, torch.Tensor]]
Generators = Callable[[int], Optional[List[torch.Generator]]]

TEXT_POOLINGS = ('cls', 'mean', 'last')


def image_key(meta: dict) -> str:
    """What seeds an image's random draws: its ``image_id``, else its file name.

    Not the path: the same image gets the same draw wherever the data lives.
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


def gather_across_ranks(features: torch.Tensor,
                        image_ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """Image features and image ids of every rank, for a cross-rank negative pool.

    The gather keeps gradients (each rank's loss reaches the other ranks' images,
    which DDP's gradient averaging then combines). Without distribution it returns
    its inputs.

    Args:
        features: (B, ...) this rank's per-image features (SaG's entities, a pooled
            embedding, ...).
        image_ids: (B,) their image ids.

    Returns:
        tuple: features (W*B, ...), ids (W*B,), and the offset ``rank * B`` of this
        rank's samples.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features, image_ids, 0
    all_features = _GatherWithGrad.apply(features.contiguous())
    all_ids = _all_gather_cat(image_ids.contiguous())
    return all_features, all_ids, dist.get_rank() * features.shape[0]


class BaseRefSegmentor(BaseSegmentor):
    """Base of the referring segmentors: a visual backbone, a text encoder, and a rule
    that scores each patch of an image for a sentence.

    A subclass builds its own heads and projections and implements:

    - :meth:`loss` (training from image-sentence pairs; no mask is read),
    - :meth:`encode_image`: images -> the features :meth:`score_pairs` reads,
    - :meth:`score_pairs`: (features, grid, sentence features, owner, generators) ->
      grid scores (P, h, w) and a dict of named intermediate maps, each (P, ...) with
      row p belonging to sentence p. ``predict`` attaches every map to its sample
      (``ds.<name>``, the names listed in ``ds.metainfo['map_names']``) and the
      inferencer to its :class:`~sgseg.apis.RefSegPrediction`; a map of shape (h, w)
      is drawn as a heat map by the pictures (demo, visualisation hook, web demo).
    - ``self.text_proj``: the module :meth:`encode_text` applies to the pooled
      sentence feature (or :meth:`project_text` overridden).

    It adds its own option keys to ``OPTION_SCHEMAS`` and their defaults to
    ``TEST_CFG_DEFAULTS``.

    Args:
        backbone: visual backbone config (``TimmViT``), returns (B, N, C_v) tokens.
        text_encoder: text encoder config (``HFTextEncoder``).
        text_pooling: how the sentence feature is read from the text encoder's tokens:
            ``'cls'`` (the first token), ``'mean'`` (the mean over real tokens) or
            ``'last'`` (the last real token: CLIP's end-of-text token).
        data_preprocessor: ``RefSegDataPreProcessor`` config.
        train_cfg: training options (keys declared by the subclass).
        test_cfg: inference options; common to all methods:

            - ``threshold``: tau (0.5) on the score map.
            - ``min_max``: min-max normalise each score map (at the original size)
              before the threshold (True); a method whose scores already mean the
              same in every image (a probability) may turn it off.
            - ``seed``: None, or an int seeding one generator per image by (seed,
              image id) (:func:`image_key`) for methods that draw at test time.
            - ``crf``: None, or a post-processor config (``dict(type='DenseCRF')``).
        init_cfg: mmengine init config.
    """

    OPTION_SCHEMAS = dict(
        train_cfg=dict(),
        test_cfg=dict(threshold=float, min_max=bool, seed=(int, type(None)),
                      crf=(dict, type(None))))
    TEST_CFG_DEFAULTS = dict(threshold=0.5, min_max=True, seed=None, crf=None)

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 text_pooling: str = 'cls',
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.text_encoder = MODELS.build(text_encoder)
        if text_pooling not in TEXT_POOLINGS:
            raise ValueError("text_pooling must be 'cls' or 'mean' or 'last', got "
                             f'{text_pooling!r}')
        self.text_pooling = text_pooling
        for name, options in (('train_cfg', train_cfg), ('test_cfg', test_cfg)):
            check_options(options or {}, self.OPTION_SCHEMAS[name], name)
        self.train_cfg = train_cfg or {}
        self.test_cfg = dict(self.TEST_CFG_DEFAULTS)
        self.test_cfg.update(test_cfg or {})
        self._crf = None
        # Multiplies every loss; a warm-up hook may ramp it.
        self.loss_scale = 1.

    # ---------------------------------------------------------------- features
    def extract_feat(self, imgs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """(B, 3, H, W) -> ViT tokens (B, N, C_v) and the grid size (h, w)."""
        return self.backbone(imgs)

    def pool_text(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, C_t) token features and (B, L) mask -> (B, C_t) sentence feature."""
        if self.text_pooling == 'cls':
            return feats[:, 0]
        if self.text_pooling == 'last':
            last = mask.sum(1).clamp_min(1) - 1
            return feats[torch.arange(feats.shape[0], device=feats.device), last]
        mask = mask[..., None].to(feats.dtype)
        return (feats * mask).sum(1) / mask.sum(1).clamp_min(1)

    def encode_text(self, inputs: dict) -> torch.Tensor:
        """Projected sentence feature, (B, D) (not normalised)."""
        feats, mask = self.text_encoder(inputs['input_ids'], inputs['attention_mask'])
        return self.project_text(self.pool_text(feats, mask))

    def project_text(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, C_t) pooled sentence feature -> (B, D), by ``self.text_proj``."""
        return self.text_proj(pooled)

    def encode_image(self, imgs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """(B, 3, H, W) -> the features :meth:`score_pairs` reads, and the grid (h, w)."""
        raise NotImplementedError

    @staticmethod
    def image_ids(data_samples: Sequence[SegDataSample]) -> torch.Tensor:
        """(B,) integer ids, equal for samples of the same image (on any rank)."""
        keys = [str(ds.metainfo.get('image_id', ds.metainfo.get('img_path')))
                for ds in data_samples]
        return torch.tensor([zlib.crc32(k.encode()) for k in keys], dtype=torch.long)

    def scale_losses(self, losses: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The losses times ``loss_scale`` (a warm-up hook may ramp it)."""
        if self.loss_scale != 1.:
            return {k: v * self.loss_scale for k, v in losses.items()}
        return losses

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
                         owner: torch.Tensor, num_images: int) -> Generators:
        """Draw index -> one generator per image when ``test_cfg.seed`` is set, else None.

        An image's generator is seeded by (seed, the image's :func:`image_key`, draw),
        taken from the first of its sentences: all sentences of an image share its
        draw, whatever the batch, the process or the order of the sentences.
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

    def score_grid(self, inputs: dict,
                   data_samples: Optional[Sequence[SegDataSample]] = None) -> PairScores:
        """Scores on the patch grid of every sentence of ``inputs``.

        Each image of ``inputs['imgs']`` is encoded once for all its sentences (see
        :meth:`owner`).

        Returns:
            tuple: scores (P, h, w) and the intermediate maps (see :meth:`score_pairs`).
        """
        text = self.encode_text(inputs)
        feats, grid = self.encode_image(inputs['imgs'])
        owner = self.owner(inputs)
        generators = self.image_generators(data_samples, owner, inputs['imgs'].shape[0])
        return self.score_pairs(feats, grid, text, owner, generators)

    def score_pairs(self, feats: torch.Tensor, grid: Tuple[int, int], text: torch.Tensor,
                    owner: torch.Tensor, generators: Generators) -> PairScores:
        """Grid scores of (image, sentence) pairs; each image is encoded once.

        Args:
            feats: the features of B_i images (:meth:`encode_image`): a (B_i, ...)
                tensor, or any structure of them the method reads.
            grid: (h, w).
            text: (P, D) sentence features of P sentences (:meth:`encode_text`).
            owner: (P,) index of each sentence's image.
            generators: draw index -> per-image generators (or None).

        Returns:
            tuple: scores (P, h, w), and a dict of intermediate maps, each (P, ...).
        """
        raise NotImplementedError

    def predict(self, inputs: dict,
                data_samples: Optional[Sequence[SegDataSample]] = None) -> List[SegDataSample]:
        """Score map and mask at the original image size for each sentence.

        ``data_samples`` are the P sentences (their images given by :meth:`owner`).
        Each returned sample carries ``seg_logits`` ((1, H0, W0) scores, min-max
        normalised unless ``test_cfg.min_max`` is False), ``pred_sem_seg`` ((1, H0, W0) uint8 mask at ``test_cfg.threshold``),
        each intermediate map of :meth:`score_pairs` under its name (their names in
        ``metainfo['map_names']``) and ``metainfo['grid_size']``.
        """
        if data_samples is None:
            H, W = inputs['imgs'].shape[-2:]
            data_samples = [SegDataSample(metainfo=dict(ori_shape=(H, W), img_shape=(H, W)))
                            for _ in range(inputs['input_ids'].shape[0])]
        scores, maps = self.score_grid(inputs, data_samples)
        grid = tuple(scores.shape[-2:])
        pad_shape = inputs['imgs'].shape[-2:]
        owner = self.owner(inputs)
        for i in owner.unique().tolist():
            # all sentences of an image are brought to its size together
            rows = (owner == i).nonzero()[:, 0].tolist()
            meta = data_samples[rows[0]].metainfo
            sizes = self.to_original_size(scores[rows], meta, pad_shape)
            image = self.load_rgb(meta) if self.test_cfg['crf'] else None
            for p, score in zip(rows, sizes):
                if image is not None:
                    score = self.refine_with_crf(score, image)
                mask = score >= self.test_cfg['threshold']
                ds = data_samples[p]
                ds.set_data(dict(seg_logits=PixelData(data=score[None]),
                                 pred_sem_seg=PixelData(data=mask[None].to(torch.uint8))))
                for name, value in maps.items():
                    ds.set_field(value[p], name)
                ds.set_metainfo(dict(grid_size=grid, map_names=tuple(maps)))
        return list(data_samples)

    def to_original_size(self, scores: torch.Tensor, meta: dict,
                         pad_shape: Sequence[int]) -> torch.Tensor:
        """Grid scores (..., h, w) -> scores (..., H0, W0) at ``ori_shape``, each map
        min-max normalised on its own (unless ``test_cfg.min_max`` is False)."""
        img_h, img_w = meta.get('img_shape', pad_shape)[:2]
        x = scores.reshape(-1, 1, *scores.shape[-2:])
        if (img_h, img_w) != tuple(pad_shape):
            # keep-ratio + pad: drop the padded border before going to the original size
            x = F.interpolate(x, size=tuple(pad_shape), mode='bilinear', align_corners=False)
            x = x[..., :img_h, :img_w]
        ori_h, ori_w = meta['ori_shape'][:2]
        x = F.interpolate(x, size=(ori_h, ori_w), mode='bilinear', align_corners=False)[:, 0]
        if not self.test_cfg.get('min_max', True):
            return x.reshape(*scores.shape[:-2], ori_h, ori_w)
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
        return refine_score(self._crf, image, score)

    def _forward(self, inputs: dict, data_samples=None) -> torch.Tensor:
        """Tensor mode: score maps on the patch grid, (P, h, w)."""
        return self.score_grid(inputs, data_samples)[0]

    def encode_decode(self, inputs: dict, batch_img_metas: List[dict]) -> torch.Tensor:
        """Score maps on the patch grid, (P, 1, h, w) (mmseg's interface)."""
        return self.score_grid(inputs)[0][:, None]
