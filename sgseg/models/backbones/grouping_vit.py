"""The grouping vision transformer of GroupViT (Xu et al., CVPR 2022).

A ViT whose token sequence also carries learnable *group tokens*. After each stage but
the last, a grouping block assigns every image token to one group token (a hard,
straight-through Gumbel-softmax over the groups) and merges the tokens of each group
into one segment token; the next stage runs on the segments. The last stage's segment
tokens are the image's groups; chaining the stages' assignments maps every patch to
one final group.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import Mlp, resample_abs_pos_embed, trunc_normal_

from sgseg.registry import MODELS
from sgseg.utils import resolve_model_path


def straight_through_assign(logits: torch.Tensor,
                            gumbel: bool = False,
                            tau: float = 1.,
                            generator: Optional[torch.Generator] = None
                            ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Hard assignment over the last dim with a straight-through gradient.

    Args:
        logits: (..., S) scores of each token for S groups.
        gumbel: add Gumbel(0, 1) noise before the softmax (training).
        tau: temperature of the (noisy) softmax.
        generator: draws the noise (None: torch's default generator).

    Returns:
        tuple: ``hard`` (..., S), one-hot in the forward pass and carrying the
        gradient of the (noisy) softmax in the backward pass, and ``soft`` (..., S),
        the noiseless softmax of ``logits`` (what the segmentation maps chain).
    """
    soft = logits.softmax(dim=-1)
    if gumbel:
        uniform = torch.rand(logits.shape, generator=generator, device=logits.device,
                             dtype=logits.dtype)
        # -log(-log U) ~ Gumbel(0, 1); U kept off 0 and 1 so both logs are finite
        eps = torch.finfo(logits.dtype).tiny
        noise = -torch.log((-torch.log(uniform.clamp(eps, 1 - 1e-7))))
        relaxed = ((logits + noise) / tau).softmax(dim=-1)
    else:
        relaxed = soft if tau == 1 else (logits / tau).softmax(dim=-1)
    index = relaxed.argmax(dim=-1, keepdim=True)
    one_hot = torch.zeros_like(relaxed).scatter_(-1, index, 1.)
    return one_hot - relaxed.detach() + relaxed, soft


def chain_assignments(assignments: Sequence[torch.Tensor]) -> torch.Tensor:
    """Patch-to-final-group map from the stages' maps: ``A_1 @ A_2 @ ...``.

    Args:
        assignments: stage s maps its N_s input tokens to S_s groups, (B, N_s, S_s),
            with N_{s+1} = S_s.

    Returns:
        Tensor: (B, N_1, S_last). One-hot rows stay one-hot; soft rows (summing to 1)
        stay soft rows summing to 1.
    """
    chained = assignments[0]
    for amap in assignments[1:]:
        chained = chained @ amap
    return chained


class GroupingOutput(NamedTuple):
    """What :class:`GroupingViT` returns.

    Attributes:
        groups: (B, S, C) final group (segment) tokens after the last LayerNorm.
        hard: per grouping block, (B, N_s, S_s) straight-through one-hot assignment
            of its input tokens to its groups.
        soft: per grouping block, (B, N_s, S_s) noiseless softmax over the groups.
        grid_size: (h, w) patch grid of the input.
    """
    groups: torch.Tensor
    hard: List[torch.Tensor]
    soft: List[torch.Tensor]
    grid_size: Tuple[int, int]


class CrossAttention(nn.Module):
    """Multi-head attention of queries (B, S, C) to keys/values (B, N, C)."""

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads})')
        self.num_heads = num_heads
        self.q_proj = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.k_proj = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.v_proj = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, C) -> (B, heads, L, C / heads)."""
        return x.reshape(*x.shape[:2], self.num_heads, -1).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """(B, S, C) queries attend to (B, N, C) keys -> (B, S, C)."""
        out = F.scaled_dot_product_attention(self.split_heads(self.q_proj(query)),
                                             self.split_heads(self.k_proj(key)),
                                             self.split_heads(self.v_proj(key)))
        return self.proj(out.transpose(1, 2).reshape(query.shape))


class _TokenMlp(Mlp):
    """An MLP over the token axis of (B, L, C) tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class GroupingBlock(nn.Module):
    """Merges N image tokens into S_out segments led by S_in group tokens.

    The S_in group tokens are mixed into S_out (an MLP over the token axis), attend
    to the image tokens (one post-norm cross-attention layer), then each image token
    is assigned to its most similar group (single-head attention, softmax over the
    *groups*, hard with a straight-through gradient, Gumbel noise in training).
    A segment is its group token plus the assignment-weighted mean of its tokens'
    values (``assign / (tokens per group + assign_eps)``), followed by an MLP.

    Args:
        embed_dims: C.
        num_heads: heads of the cross-attention before the assignment.
        num_group_tokens: S_in.
        num_output_groups: S_out.
        mlp_ratio: hidden ratio of the channel MLPs.
        token_mlp_ratio: hidden width of the token-mixing MLP, as a ratio of C.
        gumbel: Gumbel noise on the assignment in training.
        gumbel_tau: temperature of the assignment softmax in training.
        assign_eps: added to each group's token count when averaging its tokens.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 num_group_tokens: int,
                 num_output_groups: int,
                 mlp_ratio: float = 4.,
                 token_mlp_ratio: float = 0.5,
                 gumbel: bool = True,
                 gumbel_tau: float = 1.,
                 assign_eps: float = 1.):
        super().__init__()
        self.gumbel = gumbel
        self.gumbel_tau = gumbel_tau
        self.assign_eps = assign_eps
        self.norm_tokens = nn.LayerNorm(embed_dims)
        self.norm_x = nn.LayerNorm(embed_dims)
        self.token_mlp = _TokenMlp(num_group_tokens, int(token_mlp_ratio * embed_dims),
                                   num_output_groups)
        self.norm_mixed = nn.LayerNorm(embed_dims)
        self.cross_attn = CrossAttention(embed_dims, num_heads)
        self.cross_mlp = Mlp(embed_dims, int(mlp_ratio * embed_dims))
        self.cross_norm_mlp = nn.LayerNorm(embed_dims)
        self.cross_norm_out = nn.LayerNorm(embed_dims)
        self.assign_q = nn.Linear(embed_dims, embed_dims)
        self.assign_k = nn.Linear(embed_dims, embed_dims)
        self.assign_v = nn.Linear(embed_dims, embed_dims)
        self.assign_proj = nn.Linear(embed_dims, embed_dims)
        self.norm_out = nn.LayerNorm(embed_dims)
        self.out_mlp = Mlp(embed_dims, int(mlp_ratio * embed_dims))

    def forward(self, x: torch.Tensor, group_tokens: torch.Tensor,
                generator: Optional[torch.Generator] = None
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Args:
            x: (B, N, C) image tokens.
            group_tokens: (B, S_in, C).
            generator: draws the Gumbel noise in training.

        Returns:
            tuple: segments (B, S_out, C), hard assignment (B, N, S_out) (one-hot,
            straight-through) and soft assignment (B, N, S_out) (noiseless softmax).
        """
        x = self.norm_x(x)
        groups = self.norm_tokens(group_tokens)
        groups = self.norm_mixed(self.token_mlp(groups))
        groups = groups + self.cross_attn(groups, x)
        groups = self.cross_norm_out(groups + self.cross_mlp(self.cross_norm_mlp(groups)))
        q, k = self.assign_q(groups), self.assign_k(x)
        logits = k @ q.transpose(1, 2) * q.shape[-1]**-0.5  # (B, N, S_out)
        hard, soft = straight_through_assign(logits, self.gumbel and self.training,
                                             self.gumbel_tau, generator)
        weights = hard / (hard.sum(dim=1, keepdim=True) + self.assign_eps)
        segments = groups + self.assign_proj(weights.transpose(1, 2) @ self.assign_v(x))
        return segments + self.out_mlp(self.norm_out(segments)), hard, soft


class GroupingStage(nn.Module):
    """Transformer blocks over [image tokens; group tokens], then a grouping block.

    Args:
        blocks: the stage's transformer blocks (timm ``Block``).
        embed_dims: C.
        num_heads: heads of the grouping block's cross-attention.
        num_group_tokens: group tokens of the stage (0 for the last stage).
        num_output_groups: segments the grouping block outputs.
        prev_group_tokens: group tokens of the previous stage; when > 0 they are
            mixed into this stage's (zero-initialised) group tokens.
        **grouping_kwargs: passed to :class:`GroupingBlock`.
    """

    def __init__(self, blocks: nn.Sequential, embed_dims: int, num_heads: int,
                 num_group_tokens: int, num_output_groups: int = 0,
                 prev_group_tokens: int = 0, **grouping_kwargs):
        super().__init__()
        self.blocks = blocks
        self.num_group_tokens = num_group_tokens
        self.group_token = None
        self.group_projector = None
        self.grouping = None
        if num_group_tokens:
            self.group_token = nn.Parameter(torch.zeros(1, num_group_tokens, embed_dims))
            if prev_group_tokens:
                self.group_projector = nn.Sequential(
                    nn.LayerNorm(embed_dims),
                    _TokenMlp(prev_group_tokens, embed_dims // 2, num_group_tokens))
            else:
                trunc_normal_(self.group_token, std=.02)
            self.grouping = GroupingBlock(embed_dims, num_heads, num_group_tokens,
                                          num_output_groups, **grouping_kwargs)

    def forward(self, x: torch.Tensor, prev_groups: Optional[torch.Tensor],
                generator: Optional[torch.Generator] = None
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor],
                           Optional[torch.Tensor]]:
        """
        Args:
            x: (B, N, C) image tokens (or the previous stage's segments).
            prev_groups: (B, S_prev, C) group tokens of the previous stage, or None.
            generator: draws the Gumbel noise in training.

        Returns:
            tuple: segments (B, S_out, C), this stage's group tokens (B, S_in, C), and
            the hard and soft assignments (B, N, S_out); a stage without group tokens
            returns its tokens (B, N, C) and three Nones.
        """
        if self.group_token is None:
            return self.blocks(x), None, None, None
        groups = self.group_token.expand(x.shape[0], -1, -1)
        if self.group_projector is not None:
            groups = groups + self.group_projector(prev_groups)
        out = self.blocks(torch.cat([x, groups], dim=1))
        x, groups = out[:, :-self.num_group_tokens], out[:, -self.num_group_tokens:]
        segments, hard, soft = self.grouping(x, groups, generator)
        return segments, groups, hard, soft


@MODELS.register_module()
class GroupingViT(nn.Module):
    """GroupViT's image encoder: a ViT that groups its tokens stage by stage.

    The patch embedding, position embedding, transformer blocks and final LayerNorm
    are those of a timm ViT of ``sum(depths)`` blocks (so a pretrained timm ViT of
    that depth initialises them: ViT-S/16 has the 12 blocks of GroupViT-S's
    6 + 3 + 3); its class token is dropped. Stage s runs ``depths[s]`` blocks; every
    stage but the last ends with a :class:`GroupingBlock` that merges its tokens into
    ``num_output_groups[s]`` segments.

    Args:
        model_name: the timm ViT whose parts are used (``'vit_small_patch16_384'``).
        img_size: input size the position embedding is built for; another size gets
            it resized (bicubic) at every forward.
        depths: transformer blocks per stage, e.g. ``(6, 3, 3)`` (GroupViT-S).
        num_group_tokens: group tokens of each stage but the last, e.g. ``(64, 8)``.
        num_output_groups: segments out of each stage's grouping block, e.g.
            ``(64, 8)``.
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        pretrained: ``False``, or a timm ViT checkpoint (local file or folder,
            ``pkg://``, or a hub id, see :func:`sgseg.utils.resolve_model_path`) for
            the ViT parts; the grouping parts start from their own initialisation.
        gumbel: Gumbel noise on the assignments in training (GroupViT's default).
        gumbel_tau: temperature of the assignment softmax in training.
        assign_eps: see :class:`GroupingBlock`.
        **model_kwargs: passed to ``timm.create_model`` (``embed_dim``,
            ``num_heads``, ``patch_size`` for a small ViT from scratch); not
            ``depth``, which is ``sum(depths)``.
    """

    def __init__(self,
                 model_name: str = 'vit_small_patch16_384',
                 img_size: Union[int, Tuple[int, int]] = 384,
                 depths: Sequence[int] = (6, 3, 3),
                 num_group_tokens: Sequence[int] = (64, 8),
                 num_output_groups: Sequence[int] = (64, 8),
                 drop_path_rate: float = 0.1,
                 pretrained: Union[bool, str] = False,
                 gumbel: bool = True,
                 gumbel_tau: float = 1.,
                 assign_eps: float = 1.,
                 **model_kwargs):
        super().__init__()
        depths, num_group_tokens = list(depths), list(num_group_tokens)
        num_output_groups = list(num_output_groups)
        if 'depth' in model_kwargs:
            raise ValueError('backbone.depth: give backbone.depths, the blocks per stage '
                             f'(depth = sum(depths)); got depth={model_kwargs["depth"]}')
        if not (len(depths) == len(num_group_tokens) + 1 == len(num_output_groups) + 1):
            raise ValueError(
                f'backbone: depths ({depths}) needs one stage more than num_group_tokens '
                f'({num_group_tokens}) and num_output_groups ({num_output_groups}), '
                'which describe the grouping block after each stage but the last')
        if min(depths) < 1 or min(num_group_tokens + num_output_groups, default=1) < 1:
            raise ValueError(f'backbone: depths ({depths}), num_group_tokens '
                             f'({num_group_tokens}) and num_output_groups '
                             f'({num_output_groups}) must be positive')
        kwargs = dict(img_size=img_size, depth=sum(depths), drop_path_rate=drop_path_rate,
                      num_classes=0, dynamic_img_size=True, **model_kwargs)
        if pretrained:
            path = resolve_model_path(pretrained, 'backbone.pretrained', kind='weights')
            kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(file=path))
        vit = timm.create_model(model_name, **kwargs)
        if getattr(vit, 'pos_embed', None) is None or getattr(vit, 'no_embed_class', False):
            raise ValueError(f'backbone.model_name {model_name!r}: GroupingViT needs a ViT '
                             'with an absolute position embedding over its class token')
        self.embed_dims = vit.num_features
        self.patch_size = vit.patch_embed.patch_size
        self.built_grid = tuple(vit.patch_embed.grid_size)
        self.num_output_groups = num_output_groups
        self.patch_embed = vit.patch_embed
        self.pos_embed = nn.Parameter(vit.pos_embed[:, vit.num_prefix_tokens:].detach().clone())
        self.norm_pre = vit.norm_pre
        num_heads = vit.blocks[0].attn.num_heads
        ends = torch.tensor(depths).cumsum(0).tolist()
        group_tokens = num_group_tokens + [0]
        stages = []
        for s, (start, end) in enumerate(zip([0] + ends[:-1], ends)):
            stage = GroupingStage(
                vit.blocks[start:end], self.embed_dims, num_heads, group_tokens[s],
                num_output_groups[s] if s < len(num_output_groups) else 0,
                prev_group_tokens=group_tokens[s - 1] if s else 0,
                gumbel=gumbel, gumbel_tau=gumbel_tau, assign_eps=assign_eps)
            if stage.grouping is not None:
                stage.grouping.apply(_init_linear_and_norm)
            if stage.group_projector is not None:
                stage.group_projector.apply(_init_linear_and_norm)
            stages.append(stage)
        self.stages = nn.ModuleList(stages)
        self.norm = vit.norm

    def forward(self, x: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> GroupingOutput:
        """
        Args:
            x: (B, 3, H, W) normalised images.
            generator: draws the Gumbel noise in training (None: torch's default
                generator, which the Runner seeds).

        Returns:
            GroupingOutput: final groups (B, S, C), the per-block hard and soft
            assignments and the grid (H / p, W / p).
        """
        grid = (x.shape[-2] // self.patch_size[0], x.shape[-1] // self.patch_size[1])
        tokens = self.patch_embed(x)
        if tokens.ndim == 4:  # a patch embedding that keeps the NHWC layout
            tokens = tokens.flatten(1, 2)
        pos = self.pos_embed
        if grid != self.built_grid:
            pos = resample_abs_pos_embed(pos, list(grid), list(self.built_grid),
                                         num_prefix_tokens=0)
        tokens = self.norm_pre(tokens + pos)
        hard, soft, groups = [], [], None
        for stage in self.stages:
            tokens, groups, stage_hard, stage_soft = stage(tokens, groups, generator)
            if stage_hard is not None:
                hard.append(stage_hard)
                soft.append(stage_soft)
        return GroupingOutput(self.norm(tokens), hard, soft, grid)


def _init_linear_and_norm(module: nn.Module) -> None:
    """GroupViT's initialisation of its own layers: truncated normal (std 0.02)
    linear weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
