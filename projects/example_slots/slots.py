"""MixtureSlots: every slot picks one component of a learned Gaussian mixture."""
import math
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.models.slots import BaseSlotInitializer
from sgseg.registry import SLOT_INITIALIZERS


@SLOT_INITIALIZERS.register_module()
class MixtureSlots(BaseSlotInitializer):
    """Slots drawn from a learned Gaussian mixture with a shared diagonal covariance.

    Each of the K slots independently picks a component c ~ Categorical(pi) and is
    ``mu_c + sigma * eps``. Unlike ``EntitySlots`` (K_s slots from each of K_g fixed
    Gaussians), the number of slots per component varies from image to image, and the
    model learns how often each component is used. The pick is a straight-through
    Gumbel-softmax: the forward uses the hard one-hot choice, the backward the relaxed
    one, so the mixture weights pi receive gradients.

    All slots attend to each other in the interaction block (``group_size = K``): a
    slot's component is random, so there are no fixed groups.

    Args:
        embed_dims: D.
        num_slots: K.
        num_components: M, the mixture's components.
        temperature: temperature of the relaxed choice (backward only).
    """

    def __init__(self,
                 embed_dims: int,
                 num_slots: int = 36,
                 num_components: int = 8,
                 temperature: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'MixtureSlots: temperature must be > 0, got {temperature}')
        self.num_slots = num_slots
        self.group_size = num_slots
        self.embed_dims = embed_dims
        self.num_components = num_components
        self.temperature = temperature
        self.mu = nn.Parameter(torch.empty(num_components, embed_dims))
        self.log_std = nn.Parameter(torch.empty(embed_dims))
        self.mixture_logits = nn.Parameter(torch.zeros(num_components))
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.xavier_uniform_(self.mu)
        # per-dimension std 1/sqrt(D) (slot norm ~ 1), as EntitySlots starts
        nn.init.constant_(self.log_std, -0.5 * math.log(self.embed_dims))

    def gumbel_noise(self, batch_size: int,
                     generators: Optional[List[torch.Generator]]) -> torch.Tensor:
        """Gumbel(0, 1) noise (B, K, M), from the per-sample generators if given."""
        # Phi(z) of a standard normal z is uniform: this reuses the base class's
        # generator handling instead of repeating it for torch.rand.
        z = self.standard_normal(batch_size, (self.num_slots, self.num_components),
                                 generators, self.mu)
        uniform = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        tiny = torch.finfo(uniform.dtype).tiny
        # clamped so that neither log sees 0 (u rounds to 0 or 1 in the tails)
        exponential = (-torch.log(uniform.clamp_min(tiny))).clamp_min(tiny)
        return -torch.log(exponential)

    def forward(self,
                batch_size: int,
                generators: Optional[List[torch.Generator]] = None) -> torch.Tensor:
        """(B, K, D) initial slots (see :meth:`BaseSlotInitializer.forward`)."""
        logits = F.log_softmax(self.mixture_logits, dim=0)
        soft = F.softmax((logits + self.gumbel_noise(batch_size, generators))
                         / self.temperature, dim=-1)  # (B, K, M)
        hard = F.one_hot(soft.argmax(-1), self.num_components).to(soft)
        choice = hard + soft - soft.detach()  # straight-through
        eps = self.standard_normal(batch_size, (self.num_slots, self.embed_dims),
                                   generators, self.mu)
        return choice @ self.mu + torch.exp(self.log_std) * eps
