"""Modality fusion module (paper Sec. 3.3): top-down attention from the text to entities."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.registry import MODELS
from ..utils import FeedForward, check_dropout_layout


@MODELS.register_module()
class FusionHead(nn.Module):
    """One pre-norm cross-attention transformer layer (Eqs. 6-7).

    The query is the textual feature x^T (one token), keys and values are the K
    entities. ``out = x^T + CA(LN(x^T); LN(E))``, ``out = out + MLP(LN(out))`` and
    ``z = out / ||out||_2``; A^fuse is the attention over the K entities, averaged over
    heads.

    With ``pairwise=True`` every image is fused with every text in one batched call,
    which the C^3 loss needs (B x B cross-modal embeddings, no Python loop).

    Args:
        embed_dims: D.
        num_heads: attention heads.
        head_dims: channels per head (inner width ``num_heads * head_dims``).
        mlp_ratio: hidden ratio of the MLP.
        dropout: dropout on the attention output and in the MLP.
        text_residual: keep the ``x^T +`` residual of the attention (the paper's
            transformer layer); False is an sgseg option.
        attn_temperature: divides the attention logits over the K entities; below 1
            sharpens A^fuse (an sgseg option; 1 is the paper's scaled dot product).
        null_entity: add a learned key with a zero value that every head may attend
            to instead of an entity (an sgseg option, off in the paper). A head with
            nothing to read from the image otherwise parks its attention on some
            entity, usually the background, which then leaks into the mask. A^fuse
            stays the attention over the K entities (it sums to at most 1).
        qkv_bias: bias in the q/k/v projections (the authors' code has none).
        dropout_layout: ``'sgseg'`` (dropout also after the MLP's output) or
            ``'authors'`` (only after the MLP's activation and on the attention
            output), see :data:`sgseg.models.utils.DROPOUT_LAYOUTS`.
    """

    def __init__(self,
                 embed_dims: int = 512,
                 num_heads: int = 4,
                 head_dims: int = 256,
                 mlp_ratio: float = 4.,
                 dropout: float = 0.1,
                 text_residual: bool = True,
                 attn_temperature: float = 1.,
                 null_entity: bool = False,
                 qkv_bias: bool = True,
                 dropout_layout: str = 'sgseg'):
        super().__init__()
        check_dropout_layout(dropout_layout, type(self).__name__)
        if attn_temperature <= 0:
            raise ValueError(f'FusionHead: attn_temperature must be > 0, got {attn_temperature}')
        self.num_heads = num_heads
        self.head_dims = head_dims
        inner = num_heads * head_dims
        self.text_residual = text_residual
        self.attn_temperature = attn_temperature
        self.norm_query = nn.LayerNorm(embed_dims)
        self.norm_entities = nn.LayerNorm(embed_dims)
        self.to_q = nn.Linear(embed_dims, inner, bias=qkv_bias)
        self.to_k = nn.Linear(embed_dims, inner, bias=qkv_bias)
        self.to_v = nn.Linear(embed_dims, inner, bias=qkv_bias)
        self.to_out = nn.Linear(inner, embed_dims)
        self.null_key = nn.Parameter(torch.zeros(num_heads, head_dims)) if null_entity else None
        self.drop = nn.Dropout(dropout)
        self.ffn = FeedForward(embed_dims, mlp_ratio, dropout,
                               output_dropout=dropout_layout == 'sgseg')

    def forward(self,
                entities: torch.Tensor,
                text: torch.Tensor,
                pairwise: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            entities: (B_i, K, D) entity embeddings of B_i images.
            text: (B_t, D) textual features x^T.
            pairwise: fuse every image with every text; otherwise image b with text b
                (B_i == B_t).

        Returns:
            tuple: z and A^fuse; (B_i, B_t, D) and (B_i, B_t, K) when ``pairwise``,
            else (B, D) and (B, K).
        """
        Bi, K, _ = entities.shape
        Bt = text.shape[0]
        if not pairwise and Bi != Bt:
            raise ValueError(f'{Bi} images and {Bt} texts: pass pairwise=True to fuse '
                             'every pair')
        ents = self.norm_entities(entities)
        k = self.to_k(ents).reshape(Bi, K, self.num_heads, self.head_dims)
        v = self.to_v(ents).reshape(Bi, K, self.num_heads, self.head_dims)
        q = self.to_q(self.norm_query(text)).reshape(Bt, self.num_heads, self.head_dims)
        q = q * (self.head_dims**-0.5 / self.attn_temperature)
        if pairwise:
            attn = self._softmax(torch.einsum('ikhd,jhd->ijhk', k, q), q)  # Eq. 7
            out = torch.einsum('ijhk,ikhd->ijhd', attn, v).flatten(2)
            query = text[None].expand(Bi, Bt, -1)
        else:
            attn = self._softmax(torch.einsum('bkhd,bhd->bhk', k, q), q)
            out = torch.einsum('bhk,bkhd->bhd', attn, v).flatten(1)
            query = text
        out = self.drop(self.to_out(out))
        if self.text_residual:
            out = query + out
        out = out + self.ffn(out)
        z = F.normalize(out, dim=-1)  # Eq. 6
        return z, attn.mean(dim=-2)

    def _softmax(self, logits: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Attention over the K entities from logits (..., H, K) of queries (B_t, H, d).

        With the null entity its logit joins the softmax and is dropped afterwards
        (its value is zero, so it adds nothing to the output).
        """
        if self.null_key is None:
            return logits.softmax(dim=-1)
        null = (q * self.null_key).sum(-1)  # (B_t, H)
        null = null.expand(logits.shape[:-1])[..., None]
        return torch.cat([logits, null], dim=-1).softmax(dim=-1)[..., :-1]
