"""The learning-rate schedule of the authors' released SaG scripts, scale-correct."""
import math
from typing import Optional

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, OptimizerType, _ParamScheduler

from sgseg.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class HoldCosineAnnealingLR(LRSchedulerMixin, _ParamScheduler):
    """Holds the lr for ``hold_iters`` iterations, then anneals it along a cosine.

    The lr of iteration ``i`` (0-based) is::

        eta_min + (base - eta_min) * (1 + cos(pi * max(0, i + 1 - hold_iters) / T_max)) / 2

    This is the schedule of the authors' released scripts: a cosine of period
    ``T_max`` = the whole run, whose ``step()`` is only called once the first
    ``hold_iters`` iterations are done (while the loss ramps up, see
    :class:`~sgseg.engine.LossWarmupHook`), so it ends slightly above ``eta_min``.
    The value is computed in closed form from the step count, so resuming restores it
    exactly.

    In a config, ``T_max``, ``begin`` and ``end`` are epochs with ``by_epoch=True`` and
    ``convert_to_iter_based=True``: the Runner converts them with the real number of
    iterations per epoch (the dataloader's length on this world size), while
    ``hold_iters`` always counts iterations.

    Args:
        optimizer: the wrapped optimizer.
        hold_iters: iterations at the base lr before the cosine steps start.
        T_max: the cosine's period; defaults to ``end - begin``.
        eta_min: the lr the cosine decays towards.
        begin: step at which the schedule starts.
        end: step at which it stops.
        last_step: last step index when resuming without a state dict.
        by_epoch: whether ``begin``/``end``/``T_max`` count epochs.
        verbose: print every update.
    """

    def __init__(self,
                 optimizer: OptimizerType,
                 hold_iters: int = 5000,
                 T_max: Optional[int] = None,
                 eta_min: float = 0.,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False):
        if hold_iters < 0:
            raise ValueError(f'HoldCosineAnnealingLR: hold_iters must be >= 0, got {hold_iters}')
        self.hold_iters = hold_iters
        self.T_max = T_max or (end - begin)
        if self.T_max <= 0 or self.T_max >= INF:
            raise ValueError('HoldCosineAnnealingLR needs a finite T_max > 0 (or an `end`), '
                             f'got T_max={T_max}, begin={begin}, end={end}')
        self.eta_min = eta_min
        super().__init__(optimizer, begin=begin, end=end,
                         last_step=last_step, by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, T_max: Optional[int] = None, begin: int = 0,
                              end: int = INF, by_epoch: bool = True,
                              epoch_length: Optional[int] = None, **kwargs):
        """An iteration-based instance from epoch-based ``T_max``/``begin``/``end``
        (``hold_iters`` is left in iterations)."""
        if not by_epoch:
            raise ValueError('HoldCosineAnnealingLR: convert_to_iter_based needs by_epoch=True')
        if not epoch_length or epoch_length <= 0:
            raise ValueError(f'HoldCosineAnnealingLR: epoch_length must be > 0, got {epoch_length}')
        if T_max is None:
            T_max = end - begin
        return cls(*args, T_max=T_max * epoch_length, begin=begin * epoch_length,
                   end=end * epoch_length if end != INF else INF, by_epoch=False, **kwargs)

    def _get_value(self):
        steps = max(0, self.last_step + 1 - self.hold_iters)
        factor = (1 + math.cos(math.pi * steps / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * factor for base in self.base_values]
