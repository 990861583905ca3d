from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from sgseg.registry import HOOKS


@HOOKS.register_module()
class LossWarmupHook(Hook):
    """Scales the loss by ``min(1, (iter + 1) / warmup_iters)`` early in training.

    This is the warm-up of the authors' released recipe (the loss, not the learning
    rate, is ramped over the first 5000 iterations). It sets ``model.loss_scale``,
    which :class:`ShatterAndGather` multiplies every loss by.

    Args:
        warmup_iters: iterations of the ramp.
    """

    priority = 'NORMAL'

    def __init__(self, warmup_iters: int = 5000):
        if warmup_iters < 1:
            raise ValueError(f'warmup_iters must be >= 1, got {warmup_iters}')
        self.warmup_iters = warmup_iters

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.loss_scale = min(1., (runner.iter + 1) / self.warmup_iters)
