from functools import partial
from typing import Optional, Tuple, Union

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models import checkpoint_seq

from sgseg.registry import MODELS
from sgseg.utils import resolve_model_path


@MODELS.register_module()
class TimmViT(nn.Module):
    """Any timm Vision Transformer, returning its patch tokens.

    The tokens are taken after the ViT's final LayerNorm, with the class (and any
    register) tokens dropped.

    Args:
        model_name: a timm ViT name, e.g. ``'vit_small_patch16_384'``.
        img_size: input size (int or (h, w)).
        drop_path_rate: stochastic depth, rising linearly to this value.
        pretrained: ``False``, a local checkpoint file (``.pth``/``.npz``/
            ``.safetensors``) or folder holding one, ``pkg://<module>``, or a hub id
            (``'timm/vit_small_patch16_384.augreg_in21k_ft_in1k'``, ``'hf-hub:...'``)
            fetched into the Hugging Face cache (see
            :func:`sgseg.utils.resolve_model_path`). Loaded with timm's own filters
            (position embeddings are resized to the built size).
        frozen: freeze all weights.
        build_img_size: build the ViT (and its position embedding) for this input
            size instead of ``img_size``; an input of another size then gets the
            position embedding resized bilinearly at every forward, as the authors'
            code does (built at 480, fed 384). None builds at ``img_size``.
        norm_eps: epsilon of every LayerNorm of the ViT (the authors' ViT uses
            PyTorch's 1e-5); None keeps timm's (1e-6).
        grad_checkpointing: activation checkpointing of the transformer blocks
            (timm's ``set_grad_checkpointing``): each block's activations are
            recomputed in the backward pass instead of kept, trading compute for
            memory; the random state (stochastic depth) is replayed, so gradients are
            those without it.
        **model_kwargs: passed to ``timm.create_model`` (e.g. ``embed_dim``,
            ``depth``, ``num_heads``, ``patch_size`` for a small ViT from scratch).
    """

    def __init__(self,
                 model_name: str = 'vit_small_patch16_384',
                 img_size: Union[int, Tuple[int, int]] = 384,
                 drop_path_rate: float = 0.1,
                 pretrained: Union[bool, str] = False,
                 frozen: bool = False,
                 build_img_size: Optional[Union[int, Tuple[int, int]]] = None,
                 norm_eps: Optional[float] = None,
                 grad_checkpointing: bool = False,
                 **model_kwargs):
        super().__init__()
        self.resize_pos_embed = build_img_size is not None
        kwargs = dict(img_size=build_img_size if self.resize_pos_embed else img_size,
                      drop_path_rate=drop_path_rate, num_classes=0, **model_kwargs)
        if self.resize_pos_embed:
            kwargs['dynamic_img_size'] = True
        if norm_eps is not None:
            kwargs['norm_layer'] = partial(nn.LayerNorm, eps=norm_eps)
        if pretrained:
            path = resolve_model_path(pretrained, 'backbone.pretrained', kind='weights')
            kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(file=path))
        try:
            self.vit = timm.create_model(model_name, **kwargs)
        except RuntimeError as err:
            if 'Unknown model' in str(err):
                close = timm.list_models(f'*{model_name.split("_")[0]}*')[:10]
                raise KeyError(f'backbone.model_name {model_name!r} is not a timm model; '
                               f'close names: {close}') from err
            raise
        if self.resize_pos_embed and (getattr(self.vit, 'no_embed_class', False)
                                      or getattr(self.vit, 'pos_embed', None) is None):
            raise ValueError(f'backbone.build_img_size needs a ViT with an absolute '
                             f'position embedding over its class token; {model_name!r} '
                             'has none')
        self.embed_dims = self.vit.num_features
        self.num_prefix_tokens = self.vit.num_prefix_tokens
        self.patch_size = self.vit.patch_embed.patch_size
        if frozen:
            self.vit.requires_grad_(False)
        self.grad_checkpointing = grad_checkpointing
        self.vit.set_grad_checkpointing(grad_checkpointing)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """
        Args:
            x: (B, 3, H, W) normalised images.

        Returns:
            tuple: patch tokens (B, N, C) and the grid size (H / p, W / p).
        """
        grid = (x.shape[-2] // self.patch_size[0], x.shape[-1] // self.patch_size[1])
        if self.resize_pos_embed:
            tokens = self._forward_resized_pos_embed(x, grid)
        else:
            tokens = self.vit.forward_features(x)
        return tokens[:, self.num_prefix_tokens:], grid

    def _forward_resized_pos_embed(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        """The ViT's ``forward_features`` with its position embedding resized bilinearly
        (no anti-aliasing, corners not aligned) from the built grid to ``grid``."""
        return self.vit.norm(self._run_blocks(self._embed_resized(x, grid)))

    def _embed_resized(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        """The tokens entering the blocks, the position embedding resized to ``grid``."""
        vit = self.vit
        patches = vit.patch_embed(x).flatten(1, 2)  # NHWC with a dynamic size
        prefix = self.num_prefix_tokens
        pos = vit.pos_embed
        built = vit.patch_embed.grid_size
        pos_grid = pos[:, prefix:]
        if tuple(built) != tuple(grid):
            pos_grid = pos_grid.reshape(1, *built, -1).permute(0, 3, 1, 2)
            pos_grid = F.interpolate(pos_grid, size=grid, mode='bilinear', align_corners=False)
            pos_grid = pos_grid.permute(0, 2, 3, 1).flatten(1, 2)
        tokens = [t.expand(x.shape[0], -1, -1) for t in (vit.cls_token, vit.reg_token)
                  if t is not None]
        x = torch.cat([*tokens, patches], dim=1)
        x = x + torch.cat([pos[:, :prefix], pos_grid], dim=1)
        return vit.norm_pre(vit.patch_drop(vit.pos_drop(x)))

    def _run_blocks(self, x: torch.Tensor, blocks: Optional[nn.Sequential] = None) -> torch.Tensor:
        """``blocks`` (all of the ViT's by default), checkpointed when asked."""
        blocks = self.vit.blocks if blocks is None else blocks
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint_seq(blocks, x, use_reentrant=False)
        return blocks(x)

    def _embed(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        """(B, 3, H, W) -> the tokens entering the blocks (prefix tokens first)."""
        if self.resize_pos_embed:
            return self._embed_resized(x, grid)
        vit = self.vit
        return vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))

    def _grid(self, x: torch.Tensor) -> Tuple[int, int]:
        return (x.shape[-2] // self.patch_size[0], x.shape[-1] // self.patch_size[1])

    def forward_cls(self, x: torch.Tensor) -> torch.Tensor:
        """The class token after the final LayerNorm, (B, C): the image embedding of a
        CLIP-style ViT (before its projection)."""
        if getattr(self.vit, 'cls_token', None) is None:
            raise ValueError('backbone: this ViT has no class token to pool the image '
                             'with (built with class_token=False)')
        return self.vit.norm(self._run_blocks(self._embed(x, self._grid(x))))[:, 0]

    def forward_value_path(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Dense features read through the value path of the last block (MaskCLIP).

        The last block's query-key attention is skipped: each token's LayerNorm'd input
        goes through the value projection and the attention's output projection only
        (no residual, no MLP), then the ViT's final LayerNorm, as the class token is
        read.

        Args:
            x: (B, 3, H, W) normalised images.

        Returns:
            tuple: patch features (B, N, C) and the grid size.
        """
        grid = self._grid(x)
        tokens = self._run_blocks(self._embed(x, grid), self.vit.blocks[:-1])
        block = self.vit.blocks[-1]
        attn = block.attn
        if getattr(attn, 'gate', None) is not None or not hasattr(attn, 'qkv'):
            raise ValueError('forward_value_path needs a ViT block with a fused qkv '
                             'projection and no attention gate (timm Attention)')
        B, N, _ = tokens.shape
        # qkv's output is (q, k, v) concatenated, heads inside each
        value = attn.qkv(block.norm1(tokens)).reshape(B, N, 3, -1)[:, :, 2]
        value = attn.proj(attn.norm(value))
        return self.vit.norm(value)[:, self.num_prefix_tokens:], grid
