import torch

from sgseg.registry import SLOT_INITIALIZERS
from .base import xavier_uniform_over
from .entity_slots import EntitySlots


@SLOT_INITIALIZERS.register_module()
class RandomSlots(EntitySlots):
    """Random slots (Slot Attention): all K slots drawn from one learned Gaussian.

    The interaction block then attends over all K slots together.

    ``init_style='sgseg'`` initialises like :class:`EntitySlots` (per-dimension
    standard deviation about ``1/sqrt(D)``); ``'authors'`` as the authors' code: mean
    and log standard deviation Xavier-uniform over (1, 1, D) with no shift, so the
    slots start with a standard deviation of about 1.

    Args:
        embed_dims: D.
        num_slots: K.
        init_style: ``'sgseg'`` or ``'authors'``.
    """

    def __init__(self, embed_dims: int, num_slots: int = 36, init_style: str = 'sgseg'):
        super().__init__(embed_dims, num_gaussians=1, slots_per_gaussian=num_slots,
                         init_style=init_style)

    def init_weights(self) -> None:
        if self.init_style == 'sgseg':
            super().init_weights()
            return
        xavier_uniform_over(self.mu, 'authors')
        # sigma = exp(log_sigma / 2) here; the authors' exp(u) with u Xavier-uniform
        # starts from the same sigma when log_sigma = 2u
        xavier_uniform_over(self.log_sigma, 'authors')
        with torch.no_grad():
            self.log_sigma.mul_(2.)
