import torch
import torch.nn as nn
import torch.nn.functional as F

# Where the heads put their dropout: 'sgseg' after a feed-forward's activation and its
# output and on the interaction block's attention weights; 'authors' (the authors'
# code) only after the activation, and on no attention weights. Both drop each
# attention's output projection.
DROPOUT_LAYOUTS = ('sgseg', 'authors')


def check_dropout_layout(layout: str, owner: str) -> None:
    """Raises a ValueError naming ``owner`` unless ``layout`` is known."""
    if layout not in DROPOUT_LAYOUTS:
        raise ValueError(f'{owner}: dropout_layout must be one of {DROPOUT_LAYOUTS}, got '
                         f'{layout!r}')


class FeedForward(nn.Module):
    """Pre-norm GELU MLP, applied as ``x + MLP(LN(x))`` by its callers.

    Args:
        embed_dims: input and output channels.
        mlp_ratio: hidden channels = ``mlp_ratio * embed_dims``.
        dropout: dropout after the activation (and after the output projection with
            ``output_dropout``).
        output_dropout: also drop the output projection's result.
    """

    def __init__(self, embed_dims: int, mlp_ratio: float = 4., dropout: float = 0.,
                 output_dropout: bool = True):
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.norm = nn.LayerNorm(embed_dims)
        self.fc1 = nn.Linear(embed_dims, hidden)
        self.fc2 = nn.Linear(hidden, embed_dims)
        self.drop = nn.Dropout(dropout)
        self.drop_out = nn.Dropout(dropout) if output_dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop_out(self.fc2(self.drop(F.gelu(self.fc1(self.norm(x))))))


class SelfAttentionLayer(nn.Module):
    """Pre-norm transformer layer: ``x + SA(LN(x))``, then ``x + MLP(LN(x))``.

    Uses ``scaled_dot_product_attention`` (fused kernels where available).

    Args:
        embed_dims: channels of the tokens.
        num_heads: attention heads.
        head_dims: channels per head; the attention's inner width is
            ``num_heads * head_dims``.
        mlp_ratio: hidden ratio of the MLP.
        dropout: dropout on the attention output and in the MLP.
        qkv_bias: bias in the q/k/v projection.
        dropout_layout: ``'sgseg'`` also drops the attention weights and the MLP's
            output; ``'authors'`` does not (see ``DROPOUT_LAYOUTS``).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int = 4,
                 head_dims: int = 128,
                 mlp_ratio: float = 4.,
                 dropout: float = 0.,
                 qkv_bias: bool = True,
                 dropout_layout: str = 'sgseg'):
        super().__init__()
        check_dropout_layout(dropout_layout, type(self).__name__)
        self.num_heads = num_heads
        self.head_dims = head_dims
        inner = num_heads * head_dims
        self.norm = nn.LayerNorm(embed_dims)
        self.qkv = nn.Linear(embed_dims, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, embed_dims)
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = dropout if dropout_layout == 'sgseg' else 0.
        self.ffn = FeedForward(embed_dims, mlp_ratio, dropout,
                               output_dropout=dropout_layout == 'sgseg')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, L, C) tokens.

        Returns:
            Tensor: (B, L, C).
        """
        B, L, _ = x.shape
        qkv = self.qkv(self.norm(x)).reshape(B, L, 3, self.num_heads, self.head_dims)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_dropout if self.training else 0.)
        x = x + self.drop(self.proj(out.transpose(1, 2).reshape(B, L, -1)))
        return x + self.ffn(x)
