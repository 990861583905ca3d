"""Entity discovery module (paper Sec. 3.2): bottom-up attention from patches to slots."""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from sgseg.registry import MODELS, SLOT_INITIALIZERS
from ..utils import (FeedForward, SelfAttentionLayer, check_dropout_layout,
                     sine_position_encoding)


@MODELS.register_module()
class EntityDiscovery(nn.Module):
    """Aggregation block + interaction block, iterated T times with shared weights.

    Per iteration t (Eq. 1): ``S^t = Inter(Agg(x^V; S^{t-1}))``.

    * Aggregation (Eqs. 3-4): multi-head attention with the softmax taken **over
      slots** (competition), then l1-renormalised over patches; residual update
      ``S + W_o(normalize(A)^T v)``, then ``S + MLP(LN(S))``. A 2-D sine position
      encoding is added to the features before their LayerNorm, so it enters keys
      and values.
    * Interaction (Eq. 5): a pre-norm self-attention layer applied within each group
      of slots drawn from one Gaussian (``slot_initializer.group_size``).

    After the last iteration the entities are ``LN(Linear(S^T))``.

    Args:
        slot_initializer: config of a slot initializer (SLOT_INITIALIZERS registry);
            its ``embed_dims`` is filled in from ``embed_dims``.
        embed_dims: D.
        hidden_dims: D_h, the width of q/k/v in the aggregation block.
        num_iters: T.
        num_heads: heads of the aggregation attention (head width D_h / heads).
        inter_num_heads: heads of the interaction self-attention.
        inter_head_dims: channels per interaction head.
        mlp_ratio: hidden ratio of the MLPs.
        dropout: dropout of the update, the MLPs and the interaction block.
        use_interaction: False drops the interaction block (Table 2a).
        aggregation: ``'slot'`` (softmax over slots, the paper) or ``'transformer'``
            (softmax over patches, a plain cross-attention; Table 2a).
        position_encoding: add the 2-D sine encoding to the features.
        eps: added before the l1 renormalisation.
        qkv_bias: bias in the q/k/v projections of both blocks (the authors' code has
            none).
        dropout_layout: ``'sgseg'`` (dropout also after each MLP's output and on the
            interaction's attention weights) or ``'authors'`` (only after each MLP's
            activation and on the attention outputs), see
            :data:`sgseg.models.utils.DROPOUT_LAYOUTS`.
        grad_checkpointing: activation checkpointing of each iteration (aggregation +
            interaction): its activations are recomputed in the backward pass instead
            of kept (``torch.utils.checkpoint``, non-reentrant, the random state of
            dropout replayed), so gradients are those without it.
    """

    def __init__(self,
                 slot_initializer: dict,
                 embed_dims: int = 512,
                 hidden_dims: int = 1024,
                 num_iters: int = 6,
                 num_heads: int = 4,
                 inter_num_heads: int = 4,
                 inter_head_dims: int = 128,
                 mlp_ratio: float = 4.,
                 dropout: float = 0.1,
                 use_interaction: bool = True,
                 aggregation: str = 'slot',
                 position_encoding: bool = True,
                 eps: float = 1e-8,
                 qkv_bias: bool = True,
                 dropout_layout: str = 'sgseg',
                 grad_checkpointing: bool = False):
        super().__init__()
        check_dropout_layout(dropout_layout, type(self).__name__)
        if aggregation not in ('slot', 'transformer'):
            raise ValueError(f"aggregation must be 'slot' or 'transformer', got "
                             f'{aggregation!r}')
        if hidden_dims % num_heads:
            raise ValueError(f'hidden_dims ({hidden_dims}) must be divisible by '
                             f'num_heads ({num_heads})')
        if num_iters < 1:
            raise ValueError(f'num_iters must be >= 1, got {num_iters}')
        self.slot_initializer = SLOT_INITIALIZERS.build(
            dict(slot_initializer, embed_dims=embed_dims))
        self.num_slots = self.slot_initializer.num_slots
        self.embed_dims = embed_dims
        self.num_iters = num_iters
        self.num_heads = num_heads
        self.head_dims = hidden_dims // num_heads
        self.aggregation = aggregation
        self.position_encoding = position_encoding
        self.eps = eps
        self.grad_checkpointing = grad_checkpointing

        self.norm_feats = nn.LayerNorm(embed_dims)
        self.norm_slots = nn.LayerNorm(embed_dims)
        self.to_q = nn.Linear(embed_dims, hidden_dims, bias=qkv_bias)
        self.to_k = nn.Linear(embed_dims, hidden_dims, bias=qkv_bias)
        self.to_v = nn.Linear(embed_dims, hidden_dims, bias=qkv_bias)
        self.to_out = nn.Linear(hidden_dims, embed_dims)
        self.drop = nn.Dropout(dropout)
        self.mlp = FeedForward(embed_dims, mlp_ratio, dropout,
                               output_dropout=dropout_layout == 'sgseg')
        self.interaction = SelfAttentionLayer(
            embed_dims, inter_num_heads, inter_head_dims, mlp_ratio, dropout, qkv_bias,
            dropout_layout) if use_interaction else None
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        self.out_norm = nn.LayerNorm(embed_dims)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, H*d) -> (B, H, L, d)."""
        B, L, _ = x.shape
        return x.reshape(B, L, self.num_heads, self.head_dims).transpose(1, 2)

    def aggregate(self, slots: torch.Tensor, k: torch.Tensor,
                  v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """One aggregation block.

        Args:
            slots: (B, K, D).
            k: (B, H, N, d) keys of the features.
            v: (B, H, N, d) values of the features.

        Returns:
            tuple: updated slots (B, K, D) and the attention (B, H, N, K), normalised
            over slots (``'slot'``) or over patches (``'transformer'``).
        """
        q = self.split_heads(self.to_q(self.norm_slots(slots)))
        logits = torch.einsum('bhnd,bhkd->bhnk', k, q) * self.head_dims**-0.5  # Eq. 3
        if self.aggregation == 'slot':
            attn = logits.softmax(dim=-1)
            weights = attn / (attn.sum(dim=2, keepdim=True) + self.eps)
        else:
            attn = logits.softmax(dim=2)
            weights = attn
        updates = torch.einsum('bhnk,bhnd->bkhd', weights, v).flatten(2)
        slots = slots + self.drop(self.to_out(updates))  # Eq. 4
        return slots + self.mlp(slots), attn

    def iteration(self, slots: torch.Tensor, k: torch.Tensor,
                  v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """One iteration, ``Inter(Agg(x^V; S))``: slots (B, K, D), attention (B, H, N, K)."""
        slots, attn = self.aggregate(slots, k, v)
        return self.interact(slots), attn

    def interact(self, slots: torch.Tensor) -> torch.Tensor:
        """Interaction block (Eq. 5): self-attention within each Gaussian's group."""
        if self.interaction is None:
            return slots
        B, K, D = slots.shape
        group = self.slot_initializer.group_size
        grouped = slots.reshape(B * (K // group), group, D)
        return self.interaction(grouped).reshape(B, K, D)

    def forward(self,
                feats: torch.Tensor,
                grid_size: Tuple[int, int],
                generators: Optional[List[torch.Generator]] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            feats: (B, N, D) projected patch features x^V.
            grid_size: (h, w) with h * w = N.
            generators: optional per-sample generators for the slot draw.

        Returns:
            tuple: entities (B, K, D) and A^slot (B, N, K) of the last iteration
            (before the l1 renormalisation), averaged over heads.
        """
        B, N, _ = feats.shape
        if self.position_encoding:
            feats = feats + sine_position_encoding(
                *grid_size, self.embed_dims, device=feats.device).to(feats.dtype)
        feats = self.norm_feats(feats)
        # Contiguous once here, not copied by every iteration's einsum (T times).
        k = self.split_heads(self.to_k(feats)).contiguous()
        v = self.split_heads(self.to_v(feats)).contiguous()
        slots = self.slot_initializer(B, generators)
        for _ in range(self.num_iters):
            if self.grad_checkpointing and torch.is_grad_enabled():
                slots, attn = checkpoint(self.iteration, slots, k, v, use_reentrant=False,
                                         preserve_rng_state=True)
            else:
                slots, attn = self.iteration(slots, k, v)
        entities = self.out_norm(self.out_proj(slots))
        return entities, attn.mean(dim=1)
