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
        x = vit.norm_pre(vit.patch_drop(vit.pos_drop(x)))
        if self.grad_checkpointing and torch.is_grad_enabled():
            x = checkpoint_seq(vit.blocks, x, use_reentrant=False)
        else:
            x = vit.blocks(x)
        return vit.norm(x)
