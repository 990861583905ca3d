import math
from typing import List, Optional

import torch
import torch.nn as nn

from sgseg.registry import SLOT_INITIALIZERS
from .base import BaseSlotInitializer, check_init_style, xavier_uniform_over


@SLOT_INITIALIZERS.register_module()
class EntitySlots(BaseSlotInitializer):
    """Entity slots (Eq. 2): K_s slots drawn from each of K_g learned Gaussians.

    Slot k of Gaussian i is ``mu_i + exp(log_sigma_i / 2) * eps`` with a fresh
    ``eps ~ N(0, I)`` at every forward, test time included. ``mu`` is initialised
    Xavier-uniform and ``log_sigma`` Xavier-uniform shifted by ``-log(D)``, so each
    dimension starts with a standard deviation of about ``1/sqrt(D)`` (norm ~ 1).

    The Xavier fans depend on the shape the draw is made over (``init_style``):
    ``'sgseg'`` draws over (K_g, D) (fan-in D, fan-out K_g); ``'authors'`` over
    (1, K_g, D) as the authors' code does (fan-in K_g * D, fan-out D), which gives
    means about sqrt((K_g + 1) / 2) times smaller (~3x at K_g = 18).

    Args:
        num_slots: K; must equal ``num_gaussians * slots_per_gaussian`` when all
            three are given.
        embed_dims: D.
        num_gaussians: K_g.
        slots_per_gaussian: K_s; slots of one Gaussian form one interaction group.
        init_style: ``'sgseg'`` or ``'authors'`` (see above).
    """

    def __init__(self,
                 embed_dims: int,
                 num_gaussians: int = 18,
                 slots_per_gaussian: int = 2,
                 num_slots: Optional[int] = None,
                 init_style: str = 'sgseg'):
        super().__init__()
        check_init_style(init_style, type(self).__name__)
        self.init_style = init_style
        if num_slots is not None and num_slots != num_gaussians * slots_per_gaussian:
            raise ValueError(f'num_slots ({num_slots}) must equal num_gaussians '
                             f'({num_gaussians}) * slots_per_gaussian '
                             f'({slots_per_gaussian})')
        self.num_gaussians = num_gaussians
        self.slots_per_gaussian = slots_per_gaussian
        self.num_slots = num_gaussians * slots_per_gaussian
        self.group_size = slots_per_gaussian
        self.embed_dims = embed_dims
        self.mu = nn.Parameter(torch.empty(num_gaussians, embed_dims))
        self.log_sigma = nn.Parameter(torch.empty(num_gaussians, embed_dims))
        self.init_weights()

    def init_weights(self) -> None:
        xavier_uniform_over(self.mu, self.init_style)
        xavier_uniform_over(self.log_sigma, self.init_style)
        with torch.no_grad():
            self.log_sigma.sub_(math.log(self.embed_dims))

    def forward(self,
                batch_size: int,
                generators: Optional[List[torch.Generator]] = None) -> torch.Tensor:
        eps = self.standard_normal(
            batch_size, (self.num_gaussians, self.slots_per_gaussian, self.embed_dims),
            generators, self.mu)
        sigma = torch.exp(0.5 * self.log_sigma)
        slots = self.mu[:, None] + sigma[:, None] * eps  # (B, K_g, K_s, D)
        return slots.reshape(batch_size, self.num_slots, self.embed_dims)
