"""The vision tower of a Hugging Face CLIP checkpoint as a backbone."""
from typing import Tuple

import torch
import torch.nn as nn
from transformers import CLIPModel

from sgseg.registry import MODELS
from sgseg.utils import resolve_model_path


def load_clip_model(path: str, what: str) -> CLIPModel:
    """A ``transformers.CLIPModel`` from a local folder, ``pkg://`` or a hub id (the
    Hugging Face cache, offline included); ``what`` names the config key in errors."""
    folder = resolve_model_path(path, what)
    try:
        return CLIPModel.from_pretrained(folder)
    except (ValueError, OSError, KeyError) as err:
        raise ValueError(f'{what}: {path!r} is not a CLIP checkpoint that '
                         f'transformers.CLIPModel loads ({type(err).__name__}: {err})') from err


@MODELS.register_module()
class HFCLIPVision(nn.Module):
    """The vision tower of a CLIP checkpoint (``transformers.CLIPModel``) as a backbone.

    Same outputs as :class:`TimmViT` (patch tokens after the final LayerNorm, the class
    token, the value-path readout of MaskCLIP), and the tower's own projection to the
    joint embedding space as ``projection``. An input of another size than the
    checkpoint's gets its position embedding interpolated (transformers'
    ``interpolate_pos_encoding``).

    Args:
        path: a local Hugging Face CLIP folder, ``pkg://<module>`` or a hub id
            (``'openai/clip-vit-base-patch16'``), read from the Hugging Face cache.
        frozen: freeze the tower and its projection.
    """

    def __init__(self, path: str, frozen: bool = False):
        super().__init__()
        clip = load_clip_model(path, 'backbone.path')
        self.vision = clip.vision_model
        self.projection = clip.visual_projection
        config = clip.config.vision_config
        self.image_size = config.image_size
        self.patch_size = (config.patch_size, config.patch_size)
        self.embed_dims = config.hidden_size
        self.num_prefix_tokens = 1
        if frozen:
            self.requires_grad_(False)

    def _grid(self, x: torch.Tensor) -> Tuple[int, int]:
        return (x.shape[-2] // self.patch_size[0], x.shape[-1] // self.patch_size[1])

    def _run(self, x: torch.Tensor, skip_last: bool = False) -> torch.Tensor:
        """Tokens (B, 1 + N, C) out of the encoder layers (all, or all but the last)."""
        interpolate = tuple(x.shape[-2:]) != (self.image_size, self.image_size)
        tokens = self.vision.pre_layrnorm(
            self.vision.embeddings(x, interpolate_pos_encoding=interpolate))
        layers = self.vision.encoder.layers
        for layer in (layers[:-1] if skip_last else layers):
            tokens = layer(tokens, None)
        return tokens

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """(B, 3, H, W) -> patch tokens (B, N, C) after the final LayerNorm, grid."""
        return self.vision.post_layernorm(self._run(x))[:, 1:], self._grid(x)

    def forward_cls(self, x: torch.Tensor) -> torch.Tensor:
        """The class token after the final LayerNorm, (B, C) (CLIP's pooled output)."""
        return self.vision.post_layernorm(self._run(x)[:, 0])

    def forward_value_path(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Dense features through the value path of the last layer (MaskCLIP): value
        and output projections of the LayerNorm'd input, no query-key attention, no
        residual, no MLP, then the final LayerNorm. Returns (B, N, C) and the grid."""
        tokens = self._run(x, skip_last=True)
        layer = self.vision.encoder.layers[-1]
        attn = layer.self_attn
        value = attn.out_proj(attn.v_proj(layer.layer_norm1(tokens)))
        return self.vision.post_layernorm(value)[:, 1:], self._grid(x)
