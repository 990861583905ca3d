"""GroupViT (Xu et al., CVPR 2022) as a referring segmentor (SaG paper, appendix B)."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from sgseg.registry import MODELS
from ..backbones.grouping_vit import chain_assignments
from .base_refseg import BaseRefSegmentor, Generators, PairScores, gather_across_ranks

ASSIGNMENTS = ('hard', 'soft')


class ProjectionMLP(nn.Module):
    """GroupViT's projection head: (Linear, BatchNorm, ReLU) x (num_layers - 1), then
    Linear; one layer is a plain Linear.

    Args:
        in_dims: input channels.
        hidden_dims: channels of the hidden layers.
        out_dims: output channels.
        num_layers: linear layers (>= 1).
    """

    def __init__(self, in_dims: int, hidden_dims: int, out_dims: int, num_layers: int = 2):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'proj_num_layers must be >= 1, got {num_layers}')
        layers = []
        for i in range(num_layers - 1):
            layers += [nn.Linear(in_dims if i == 0 else hidden_dims, hidden_dims),
                       nn.BatchNorm1d(hidden_dims), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(in_dims if num_layers == 1 else hidden_dims, out_dims))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., C_in) -> (..., C_out); BatchNorm statistics over all leading dims."""
        return self.layers(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


@MODELS.register_module()
class GroupViT(BaseRefSegmentor):
    """Referring segmentation with GroupViT's groups, as the SaG paper reproduces it.

    Training (GroupViT's image-text contrastive loss): the image embedding is the
    projected mean of the final group tokens, the sentence embedding the projected
    pooled text feature; a symmetric InfoNCE with a learned temperature matches them,
    every sentence of the same image counting as a positive. No mask is read.

    Inference (appendix B of the SaG paper): every patch is assigned to one final
    group (the stages' soft assignments chained, then arg-max, as GroupViT's
    segmentation does); each group is compared with the sentence and with a
    background query (``test_cfg.background_text``, encoded by the same text
    encoder), and the groups closer to the sentence form the mask.

    Args:
        backbone: ``GroupingViT`` config.
        text_encoder: ``HFTextEncoder`` config.
        embed_dims: width of the joint embedding space (GroupViT: 256).
        proj_hidden_dims: hidden width of the projection heads (GroupViT: 4096).
        proj_num_layers: linear layers of each projection head (GroupViT: 2, with
            BatchNorm between; 1 is a plain linear projection).
        contrastive_loss: ``ImageTextContrastiveLoss`` config; its logit scale also
            scales the similarities of the sentence-versus-background softmax.
        text_pooling: ``'cls'`` or ``'mean'`` (see :class:`BaseRefSegmentor`).
        data_preprocessor: ``RefSegDataPreProcessor`` config (its tokenizer also
            encodes the background query).
        train_cfg: ``gather_negatives`` (bool): in distributed training, contrast
            with the samples of every process (GroupViT does); default False.
        test_cfg: the common keys of :class:`BaseRefSegmentor`, and:

            - ``background_text``: the dummy query (``'a photo of a nothing'``, the
              appendix's example).
            - ``assignment``: a group's *relevance* is the sentence's share of the
              two-way softmax (sentence, background) of the group's scaled cosine
              similarities, above 0.5 exactly when the group is closer to the
              sentence. ``'hard'`` (default, the appendix): a patch scores the
              relevance of the one group it joins, so ``threshold`` 0.5 keeps the
              groups closer to the sentence (a piecewise-constant map, its edges
              softened only by the bilinear resize). ``'soft'``: a patch scores the
              relevance of the groups weighted by its soft assignment to them.
            - ``min_max``: default False here: relevance is already in [0, 1], 0.5
              meaning "as close to the sentence as to the background", in every
              image; normalising would empty a map in which every group won.
        init_cfg: mmengine init config.

    Each prediction carries ``group_map`` ((h, w) final group of every patch),
    ``group_relevance`` ((S,) each group's relevance, see ``assignment``) and
    ``group_similarity`` ((S,) cosine similarity of each group to the sentence).
    """

    OPTION_SCHEMAS = dict(
        train_cfg=dict(gather_negatives=bool),
        test_cfg=dict(BaseRefSegmentor.OPTION_SCHEMAS['test_cfg'], background_text=str,
                      assignment=ASSIGNMENTS))
    TEST_CFG_DEFAULTS = dict(BaseRefSegmentor.TEST_CFG_DEFAULTS,
                             background_text='a photo of a nothing', assignment='hard',
                             min_max=False)

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 embed_dims: int = 256,
                 proj_hidden_dims: int = 4096,
                 proj_num_layers: int = 2,
                 contrastive_loss: dict = dict(type='ImageTextContrastiveLoss'),
                 text_pooling: str = 'cls',
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone, text_encoder, text_pooling=text_pooling,
                         data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        self.img_proj = ProjectionMLP(self.backbone.embed_dims, proj_hidden_dims, embed_dims,
                                      proj_num_layers)
        self.text_proj = ProjectionMLP(self.text_encoder.embed_dims, proj_hidden_dims,
                                       embed_dims, proj_num_layers)
        self.contrastive_loss = MODELS.build(contrastive_loss)

    # ---------------------------------------------------------------- training
    def loss(self, inputs: dict, data_samples: Sequence[SegDataSample]) -> Dict[str, torch.Tensor]:
        """Image-text contrastive loss of a batch of image-sentence pairs.

        Reads no mask: only the images, the tokens and the image ids.
        """
        text = self.encode_text(inputs)
        image = self.img_proj(self.backbone(inputs['imgs']).groups.mean(dim=1))
        image_ids = self.image_ids(data_samples).to(text.device)
        offset, num_local = 0, text.shape[0]
        if self.train_cfg.get('gather_negatives', False):
            image, all_ids, offset = gather_across_ranks(image, image_ids)
            text = gather_across_ranks(text, image_ids)[0]
            image_ids = all_ids
        loss = self.contrastive_loss(image, text, image_ids, offset, num_local)
        return self.scale_losses({self.contrastive_loss.loss_name: loss})

    # ---------------------------------------------------------------- inference
    def encode_image(self, imgs: torch.Tensor
                     ) -> Tuple[Tuple[torch.Tensor, torch.Tensor], Tuple[int, int]]:
        """Projected groups and the patch-to-group map of each image.

        Returns:
            tuple: ((B, S, D) group embeddings, (B, N, S) chained soft assignment),
            and the grid (h, w).
        """
        out = self.backbone(imgs)
        return (self.img_proj(out.groups), chain_assignments(out.soft)), out.grid_size

    def encode_background(self, device: torch.device) -> torch.Tensor:
        """The projected background query, (1, D)."""
        tokens = self.data_preprocessor.tokenize([self.test_cfg['background_text']],
                                                 ['test_cfg.background_text'])
        return self.encode_text({k: v.to(device) for k, v in tokens.items()})

    def score_pairs(self, feats: Tuple[torch.Tensor, torch.Tensor], grid: Tuple[int, int],
                    text: torch.Tensor, owner: torch.Tensor,
                    generators: Generators) -> PairScores:
        """Grid scores of (image, sentence) pairs from the groups of each image.

        Args:
            feats: ((B_i, S, D) group embeddings, (B_i, N, S) soft assignment).
            grid: (h, w).
            text: (P, D) sentence embeddings.
            owner: (P,) index of each sentence's image.
            generators: unused (inference draws nothing).

        Returns:
            tuple: scores (P, h, w) and the maps ``group_map`` (P, h, w),
            ``group_relevance`` (P, S) and ``group_similarity`` (P, S).
        """
        groups, assign = feats
        groups = F.normalize(groups, dim=-1)[owner]  # (P, S, D)
        sim = torch.einsum('psd,pd->ps', groups, F.normalize(text, dim=-1))
        background = F.normalize(self.encode_background(text.device), dim=-1)[0]
        sim_bg = groups @ background  # (P, S)
        # the sentence's share of the softmax over (sentence, background)
        relevance = torch.sigmoid(self.contrastive_loss.scale * (sim - sim_bg))
        labels = assign.argmax(dim=-1)[owner]  # (P, N)
        if self.test_cfg['assignment'] == 'hard':
            scores = relevance.gather(1, labels)
        else:
            scores = torch.einsum('pns,ps->pn', assign[owner], relevance)
        maps = dict(group_map=labels.reshape(-1, *grid), group_relevance=relevance,
                    group_similarity=sim)
        return scores.reshape(-1, *grid), maps
