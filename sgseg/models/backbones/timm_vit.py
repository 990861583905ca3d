from typing import Tuple, Union

import timm
import torch
import torch.nn as nn

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
        pretrained: ``False``, or a local checkpoint file (``.pth``/``.npz``/
            ``.safetensors``) loaded with timm's own filters (position embeddings are
            resized to ``img_size``). Never downloads.
        frozen: freeze all weights.
        **model_kwargs: passed to ``timm.create_model`` (e.g. ``embed_dim``,
            ``depth``, ``num_heads``, ``patch_size`` for a small ViT from scratch).
    """

    def __init__(self,
                 model_name: str = 'vit_small_patch16_384',
                 img_size: Union[int, Tuple[int, int]] = 384,
                 drop_path_rate: float = 0.1,
                 pretrained: Union[bool, str] = False,
                 frozen: bool = False,
                 **model_kwargs):
        super().__init__()
        kwargs = dict(img_size=img_size, drop_path_rate=drop_path_rate, num_classes=0,
                      **model_kwargs)
        if pretrained:
            path = resolve_model_path(pretrained, 'backbone.pretrained')
            kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(file=path))
        try:
            self.vit = timm.create_model(model_name, **kwargs)
        except RuntimeError as err:
            if 'Unknown model' in str(err):
                close = timm.list_models(f'*{model_name.split("_")[0]}*')[:10]
                raise KeyError(f'backbone.model_name {model_name!r} is not a timm model; '
                               f'close names: {close}') from err
            raise
        self.embed_dims = self.vit.num_features
        self.num_prefix_tokens = self.vit.num_prefix_tokens
        self.patch_size = self.vit.patch_embed.patch_size
        if frozen:
            self.vit.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """
        Args:
            x: (B, 3, H, W) normalised images.

        Returns:
            tuple: patch tokens (B, N, C) and the grid size (H / p, W / p).
        """
        tokens = self.vit.forward_features(x)[:, self.num_prefix_tokens:]
        grid = (x.shape[-2] // self.patch_size[0], x.shape[-1] // self.patch_size[1])
        return tokens, grid
