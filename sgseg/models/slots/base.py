from typing import List, Optional

import torch
import torch.nn as nn

INIT_STYLES = ('sgseg', 'authors')


def check_init_style(init_style: str, owner: str) -> None:
    """Raises a ValueError naming ``owner`` unless ``init_style`` is known."""
    if init_style not in INIT_STYLES:
        raise ValueError(f'{owner}: init_style must be one of {INIT_STYLES}, got '
                         f'{init_style!r}')


def xavier_uniform_over(param: torch.Tensor, init_style: str) -> None:
    """Xavier-uniform init of a (R, D) parameter, its fans as ``init_style`` says.

    ``'sgseg'`` takes the fans of the (R, D) matrix itself (fan-in D, fan-out R);
    ``'authors'`` those of a (1, R, D) tensor, as the authors' code draws it
    (fan-in R * D, fan-out D).
    """
    if init_style == 'sgseg':
        nn.init.xavier_uniform_(param)
        return
    with torch.no_grad():
        param.copy_(nn.init.xavier_uniform_(torch.empty(1, *param.shape))[0])


class BaseSlotInitializer(nn.Module):
    """Produces the initial slots S^0 of the entity discovery module.

    Subclasses set ``num_slots``, ``embed_dims`` and ``group_size`` (the interaction
    block attends within consecutive groups of ``group_size`` slots) and implement
    :meth:`forward`.

    Randomness is explicit: with ``generators`` (one ``torch.Generator`` per sample)
    the draw of each sample depends only on its generator, so a sample gets the same
    slots whatever batch or process it is evaluated in; without, the global RNG
    (seeded by the Runner) is used.
    """

    num_slots: int
    embed_dims: int
    group_size: int

    def forward(self,
                batch_size: int,
                generators: Optional[List[torch.Generator]] = None) -> torch.Tensor:
        """
        Args:
            batch_size: B.
            generators: None, or B generators, one per sample.

        Returns:
            Tensor: (B, K, D) initial slots.
        """
        raise NotImplementedError

    def standard_normal(self, batch_size: int, shape: tuple,
                        generators: Optional[List[torch.Generator]],
                        like: torch.Tensor) -> torch.Tensor:
        """Standard normal noise of shape (B, *shape), per-sample generators if given."""
        if generators is None:
            return torch.randn((batch_size, *shape), device=like.device, dtype=like.dtype)
        if len(generators) != batch_size:
            raise ValueError(f'got {len(generators)} generators for a batch of {batch_size}')
        return torch.stack([
            torch.randn(shape, generator=g, device=g.device, dtype=like.dtype)
            for g in generators
        ]).to(like.device)
