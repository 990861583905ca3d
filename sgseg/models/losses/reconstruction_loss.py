from typing import Optional, Tuple

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
    and summed (it is linear), which avoids a (B, K, N, D) input tensor: its entity half
    is computed once per entity, its position half once per position.

    ``mix_before_output=True`` computes the same reconstruction with fewer operations:
    the mixing weights sum to one over entities, so mixing the entities' last hidden
    features and then applying the output Linear once per position equals applying it
    to every (entity, position) and mixing the outputs,
    ``sum_k a_k (W h_k + b) = W (sum_k a_k h_k) + b``; only the mixing logit is
    computed per (entity, position). Same parameters; equal up to float rounding
    (False keeps the operations of the original formulation).

    Args:
        embed_dims: D, channels of the entities.
        out_dims: channels to reconstruct (the ViT's width).
        hidden_dims: width of the MLP.
        num_layers: hidden Linear + ReLU layers (3 in the paper's 4-layer MLP).
        position_embedding: ``'learned'`` (row and column embeddings, as the authors'
            code) or ``'sine'`` (sinusoidal, as the paper writes).
        max_grid: largest grid side supported by the learned embedding.
        mix_before_output: mix the entities before the output Linear (see above).
    """

    def __init__(self,
                 embed_dims: int = 512,
                 out_dims: int = 384,
                 hidden_dims: int = 512,
                 num_layers: int = 3,
                 position_embedding: str = 'learned',
                 max_grid: int = 64,
                 mix_before_output: bool = False):
        super().__init__()
        if position_embedding not in ('learned', 'sine'):
            raise ValueError("position_embedding must be 'learned' or 'sine', got "
                             f'{position_embedding!r}')
        self.embed_dims = embed_dims
        self.mix_before_output = mix_before_output
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

    def mlp_rows(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layers on the rows of x (..., hidden) as one matrix, each ReLU in
        place (a Linear's backward needs its input, not its output): the same operations
        with fewer fresh large tensors, which on the CPU cost page faults. (rows, hidden)."""
        x = x.view(-1, x.shape[-1])
        for layer in self.hidden:
            x = layer(x).relu_()
        return x

    def forward(self, entities: torch.Tensor, grid_size: Tuple[int, int],
                positions: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            entities: (B, K, D).
            grid_size: (h, w).
            positions: optional (B, M) row-major indices of the positions to decode
                for each sample; None decodes all N = h * w of them (M = N).

        Returns:
            tuple: reconstruction (B, M, out_dims) and mixing weights (B, K, M).
        """
        pos = self.position(grid_size, entities.device).to(entities.dtype)
        pos = pos @ self.input_proj.weight.t()  # (N, hidden), once per position
        # (B, M, hidden) at the sampled positions, else (1, N, hidden)
        pos = pos[positions] if positions is not None else pos[None]
        ent = self.input_proj(entities)  # (B, K, hidden), once per entity
        if self.mix_before_output:
            # (B, M, K, hidden): the entities of one position are adjacent rows, so the
            # mixing is one small matrix product per position, with no copy of x
            x = (ent[:, None] + pos[:, :, None]).relu_()
            shape = x.shape[:3]
            x = self.mlp_rows(x)
            weight, bias = self.output_proj.weight, self.output_proj.bias
            alpha = F.linear(x, weight[-1:], bias[-1:]).view(shape).softmax(dim=2)
            mixed = torch.matmul(alpha[:, :, None], x.view(*shape, -1))[:, :, 0]
            return F.linear(mixed, weight[:-1], bias[:-1]), alpha.transpose(1, 2)
        # (B, K, M, hidden)
        x = (ent[:, :, None] + pos[:, None]).relu_()
        shape = x.shape[:3]
        x = self.mlp_rows(x)
        out = self.output_proj(x).view(*shape, -1)  # (B, K, M, out_dims + 1)
        alpha = out[..., -1].softmax(dim=1)
        recon = torch.einsum('bkn,bknc->bnc', alpha, out[..., :-1])
        return recon, alpha


@MODELS.register_module()
class ReconstructionLoss(nn.Module):
    """Feature reconstruction loss (Eq. 9): MSE between f_dec(entities) and sg(x^V).

    The decoder reconstructs each patch position on its own (its softmax over entities
    is per position), so the loss is the mean of per-position errors. With
    ``sample_ratio < 1`` (or ``num_samples < N``) each sample's loss is taken at
    M positions drawn uniformly without replacement, anew at every call: the mean
    squared error at those positions is an unbiased estimate of the paper's loss and
    of its gradient, at about M / N of the decoder's cost. The draw uses ``generator``
    when given, else torch's default generator, which the Runner seeds
    (``randomness.seed``). At 1.0 (the default) every position is decoded, exactly
    as in the paper.

    Args:
        decoder: config of the decoder (``SpatialBroadcastDecoder``).
        loss_weight: multiplies the loss.
        loss_name: key of the loss in the loss dict.
        sample_ratio: share of the N positions decoded per sample, in (0, 1];
            M = max(1, round(sample_ratio * N)).
        num_samples: M itself (at most N are used); give this or ``sample_ratio``.
    """

    def __init__(self,
                 decoder: dict,
                 loss_weight: float = 1.,
                 loss_name: str = 'loss_recon',
                 sample_ratio: float = 1.,
                 num_samples: Optional[int] = None):
        super().__init__()
        if not 0. < float(sample_ratio) <= 1.:
            raise ValueError(f'recon_loss.sample_ratio must be in (0, 1], got {sample_ratio!r}')
        if num_samples is not None:
            if isinstance(num_samples, bool) or not isinstance(num_samples, int) \
                    or num_samples < 1:
                raise ValueError('recon_loss.num_samples must be a positive int or None, '
                                 f'got {num_samples!r}')
            if sample_ratio != 1.:
                raise ValueError('give recon_loss.sample_ratio or recon_loss.num_samples, '
                                 f'not both (got {sample_ratio!r} and {num_samples!r})')
        self.decoder = MODELS.build(decoder)
        self.loss_weight = loss_weight
        self.loss_name = loss_name
        self.sample_ratio = float(sample_ratio)
        self.num_samples = num_samples

    def samples_per_image(self, num_positions: int) -> int:
        """M, the positions decoded per sample out of ``num_positions``."""
        if self.num_samples is not None:
            return min(self.num_samples, int(num_positions))
        if self.sample_ratio == 1.:
            return num_positions
        return min(int(num_positions), max(1, round(self.sample_ratio * int(num_positions))))

    def draw_positions(self, batch_size: int, num_positions: int, device,
                       generator: Optional[torch.Generator] = None) -> Optional[torch.Tensor]:
        """(B, M) positions drawn uniformly without replacement per sample, or None
        when M = N (every position)."""
        m = self.samples_per_image(num_positions)
        if m == num_positions:
            return None
        draw_device = generator.device if generator is not None else device
        keys = torch.rand(batch_size, num_positions, generator=generator, device=draw_device)
        return keys.argsort(dim=1)[:, :m].to(device)

    def forward(self, entities: torch.Tensor, target: torch.Tensor,
                grid_size: Tuple[int, int],
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """
        Args:
            entities: (B, K, D).
            target: (B, N, C) visual tokens to reconstruct (detached here).
            grid_size: (h, w).
            generator: draws the positions when sampling; None uses torch's default
                generator.

        Returns:
            Tensor: scalar loss (mean squared error over all elements, or over the
            sampled positions' elements).
        """
        B, N, C = target.shape
        if N != grid_size[0] * grid_size[1]:
            raise ValueError(f'recon_loss: {N} target tokens for a {grid_size} grid')
        positions = self.draw_positions(B, N, target.device, generator)
        recon, _ = self.decoder(entities, grid_size, positions)
        target = target.detach()
        if positions is not None:
            target = target.gather(1, positions[..., None].expand(-1, -1, C))
        return self.loss_weight * F.mse_loss(recon, target)
