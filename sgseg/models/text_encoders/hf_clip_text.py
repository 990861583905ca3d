"""The text tower of a Hugging Face CLIP checkpoint as a text encoder."""
from typing import Tuple

import torch
import torch.nn as nn

from sgseg.models.backbones.hf_clip_vision import load_clip_model
from sgseg.registry import MODELS


@MODELS.register_module()
class HFCLIPText(nn.Module):
    """The text tower of a CLIP checkpoint (``transformers.CLIPModel``).

    Returns every token's feature after the tower's final LayerNorm, as
    :class:`HFTextEncoder` does; CLIP's sentence feature is the end-of-text token
    (``text_pooling='last'`` in the segmentor), projected by the tower's own
    ``projection``. Tokenise with the checkpoint's tokenizer (the data preprocessor's
    ``tokenizer`` set to the same path).

    Args:
        path: a local Hugging Face CLIP folder, ``pkg://<module>`` or a hub id.
        frozen: freeze the tower and its projection.
    """

    def __init__(self, path: str, frozen: bool = False):
        super().__init__()
        clip = load_clip_model(path, 'text_encoder.path')
        self.text = clip.text_model
        self.projection = clip.text_projection
        self.embed_dims = clip.config.text_config.hidden_size
        if frozen:
            self.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, L) ids and mask -> token features (B, L, C) and the mask (B, L)."""
        out = self.text(input_ids=input_ids, attention_mask=attention_mask)
        return out.last_hidden_state, attention_mask
