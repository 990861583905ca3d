"""Optimizer wrappers that stop (or skip) on a non-finite loss, naming the batch."""
import logging
from typing import Dict, Optional

import torch
import torch.distributed as dist
from mmengine.dist import is_distributed
from mmengine.logging import MessageHub, print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from sgseg.registry import OPTIM_WRAPPERS

ON_NONFINITE = ('raise', 'skip')


class NonFiniteLossError(FloatingPointError):
    """A training loss was NaN or infinite."""


class NonFiniteGuardMixin:
    """Checks the loss before the backward pass of ``update_params``.

    The check is collective: under distribution every rank contributes a flag to
    an ``all_reduce``, so all ranks raise or skip together (a rank that skipped
    alone would leave the others waiting in DDP's gradient all-reduce).

    ``'raise'`` stops training with a :class:`NonFiniteLossError` naming the
    iteration (mmengine's message hub info ``'iter'``) and the batch's sample ids
    (info ``'sample_ids'``, published by ``SampleIdsHook``). ``'skip'`` drops the
    batch: no backward, no optimizer step, the gradients cleared, a warning
    logged; the skipped count is in :attr:`num_skipped`. The loss value still
    reaches the log of that iteration (as nan/inf).
    """

    def _init_guard(self, on_nonfinite: str) -> None:
        if on_nonfinite not in ON_NONFINITE:
            raise ValueError(f'optim_wrapper.on_nonfinite must be one of {ON_NONFINITE}, '
                             f'got {on_nonfinite!r}')
        self.on_nonfinite = on_nonfinite
        self.num_skipped = 0

    def update_params(self, loss: torch.Tensor, step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        """``OptimWrapper.update_params`` after the non-finite check."""
        if self._any_rank_nonfinite(loss):
            hub = MessageHub.get_current_instance()
            where = (f"iteration {hub.get_info('iter', '?')} (0-based), samples "
                     f"{hub.get_info('sample_ids', 'unknown (add SampleIdsHook)')}")
            if self.on_nonfinite == 'raise':
                raise NonFiniteLossError(
                    f'non-finite loss ({loss.item()}) at {where}; set '
                    "optim_wrapper.on_nonfinite='skip' to drop such batches instead")
            self.num_skipped += 1
            print_log(f'skipped the update of {where}: non-finite loss ({loss.item()}); '
                      f'{self.num_skipped} skipped so far', 'current', level=logging.WARNING)
            self.zero_grad(**(zero_kwargs or {}))
            return
        super().update_params(loss, step_kwargs, zero_kwargs)

    @staticmethod
    def _any_rank_nonfinite(loss: torch.Tensor) -> bool:
        bad = (~torch.isfinite(loss.detach())).any().to(torch.int32).reshape(1)
        if is_distributed():
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        return bool(bad.item())


@OPTIM_WRAPPERS.register_module()
class NonFiniteGuardOptimWrapper(NonFiniteGuardMixin, OptimWrapper):
    """``OptimWrapper`` with the non-finite loss guard of :class:`NonFiniteGuardMixin`.

    Args:
        on_nonfinite: ``'raise'`` (default) or ``'skip'``.
        **kwargs: ``OptimWrapper``'s arguments (``optimizer``, ``clip_grad``, ...).
    """

    def __init__(self, on_nonfinite: str = 'raise', **kwargs) -> None:
        super().__init__(**kwargs)
        self._init_guard(on_nonfinite)


@OPTIM_WRAPPERS.register_module()
class NonFiniteGuardAmpOptimWrapper(NonFiniteGuardMixin, AmpOptimWrapper):
    """``AmpOptimWrapper`` with the non-finite loss guard.

    The guard looks at the loss before scaling; the gradient scaler still skips
    steps whose *gradients* overflow, as in ``AmpOptimWrapper``.

    Args:
        on_nonfinite: ``'raise'`` (default) or ``'skip'``.
        **kwargs: ``AmpOptimWrapper``'s arguments.
    """

    def __init__(self, on_nonfinite: str = 'raise', **kwargs) -> None:
        super().__init__(**kwargs)
        self._init_guard(on_nonfinite)
