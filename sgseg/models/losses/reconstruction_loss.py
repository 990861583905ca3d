from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.registry import MODELS
from ..utils import sine_position_encoding


@MODELS.register_module()
class SpatialBroadcastDecoder(nn.Module):
    """Spatial broadcast decoder f_dec (appendix C) in feature space.

    Each entity is broadcast to the N patch positions and a 2-D position embedding is
    added; an MLP (``num_layers`` Linear + ReLU of width ``hidden_dims``, then a Linear
    to ``out_dims + 1``) decodes every (entity, position); the last channel, softmaxed
    over entities, mixes the per-entity reconstructions.

    The first Linear is applied to the entity and to the position embedding separately
    and summed (it is linear), which avoids a (B, K, N, D) input tensor.

    Args:
        embed_dims: D, channels of the entities.
        out_dims: channels to reconstruct (the ViT's width).
        hidden_dims: width of the MLP.
        num_layers: hidden Linear + ReLU layers (3 in the paper's 4-layer MLP).
        position_embedding: ``'learned'`` (row and column embeddings, as the authors'
            code) or ``'sine'`` (sinusoidal, as the paper writes).
        max_grid: largest grid side supported by the learned embedding.
    """

    def __init__(self,
                 embed_dims: int = 512,
                 out_dims: int = 384,
                 hidden_dims: int = 512,
                 num_layers: int = 3,
                 position_embedding: str = 'learned',
                 max_grid: int = 64):
        super().__init__()
        if position_embedding not in ('learned', 'sine'):
            raise ValueError("position_embedding must be 'learned' or 'sine', got "
                             f'{position_embedding!r}')
        self.embed_dims = embed_dims
        self.position_embedding = position_embedding
        if position_embedding == 'learned':
            self.row_embed = nn.Embedding(max_grid, embed_dims // 2)
            self.col_embed = nn.Embedding(max_grid, embed_dims - embed_dims // 2)
        self.input_proj = nn.Linear(embed_dims, hidden_dims)
        self.hidden = nn.ModuleList(
            nn.Linear(hidden_dims, hidden_dims) for _ in range(num_layers - 1))
        self.output_proj = nn.Linear(hidden_dims, out_dims + 1)

    def position(self, grid_size: Tuple[int, int], device) -> torch.Tensor:
        """(N, D) position embedding of the patch grid, row-major."""
        h, w = grid_size
        if self.position_embedding == 'sine':
            return sine_position_encoding(h, w, self.embed_dims, device=device)
        rows = self.row_embed(torch.arange(h, device=device))
        cols = self.col_embed(torch.arange(w, device=device))
        return torch.cat((rows[:, None].expand(h, w, -1), cols[None].expand(h, w, -1)),
                         dim=-1).reshape(h * w, -1)

    def forward(self, entities: torch.Tensor,
                grid_size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            entities: (B, K, D).
            grid_size: (h, w).

        Returns:
            tuple: reconstruction (B, N, out_dims) and mixing weights (B, K, N).
        """
        pos = self.position(grid_size, entities.device).to(entities.dtype)
        x = self.input_proj(entities)[:, :, None] + (pos @ self.input_proj.weight.t())
        x = F.relu(x)
        for layer in self.hidden:
            x = F.relu(layer(x))
        out = self.output_proj(x)  # (B, K, N, out_dims + 1)
        alpha = out[..., -1].softmax(dim=1)
        recon = torch.einsum('bkn,bknc->bnc', alpha, out[..., :-1])
        return recon, alpha


@MODELS.register_module()
class ReconstructionLoss(nn.Module):
    """Feature reconstruction loss (Eq. 9): MSE between f_dec(entities) and sg(x^V).

    Args:
        decoder: config of the decoder (``SpatialBroadcastDecoder``).
        loss_weight: multiplies the loss.
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self,
                 decoder: dict,
                 loss_weight: float = 1.,
                 loss_name: str = 'loss_recon'):
        super().__init__()
        self.decoder = MODELS.build(decoder)
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, entities: torch.Tensor, target: torch.Tensor,
                grid_size: Tuple[int, int]) -> torch.Tensor:
        """
        Args:
            entities: (B, K, D).
            target: (B, N, C) visual tokens to reconstruct (detached here).
            grid_size: (h, w).

        Returns:
            Tensor: scalar loss (mean squared error over all elements).
        """
        recon, _ = self.decoder(entities, grid_size)
        return self.loss_weight * F.mse_loss(recon, target.detach())
