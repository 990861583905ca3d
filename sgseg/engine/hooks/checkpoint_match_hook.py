from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from sgseg.registry import HOOKS


def checkpoint_mismatches(model_state: dict, ckpt_state: dict) -> list:
    """Differences between a model's and a checkpoint's state dicts, one line each.

    Args:
        model_state: ``model.state_dict()``.
        ckpt_state: the checkpoint's ``state_dict`` (``module.`` prefixes removed).

    Returns:
        Lines ``'<name>: checkpoint (a, b) vs model (c, d)'`` for every shape
        mismatch, then ``'<name>: missing in the checkpoint'`` and
        ``'<name>: not in the model'``.
    """
    shapes, missing = [], []
    for name, value in model_state.items():
        if name not in ckpt_state:
            missing.append(f'{name}: missing in the checkpoint')
        elif tuple(ckpt_state[name].shape) != tuple(value.shape):
            shapes.append(f'{name}: checkpoint {tuple(ckpt_state[name].shape)} vs model '
                          f'{tuple(value.shape)}')
    unexpected = [f'{name}: not in the model' for name in ckpt_state if name not in model_state]
    return sorted(shapes) + sorted(missing) + sorted(unexpected)


@HOOKS.register_module()
class CheckpointMatchHook(Hook):
    """Refuses a checkpoint that does not fit the model, naming every parameter.

    mmengine loads ``load_from`` with ``strict=False``: a checkpoint of another
    config is loaded where shapes and names agree, the rest is only logged as a
    warning, and evaluation then runs on partly random weights. tools/test.py (through
    :func:`sgseg.apis.configure_test`) adds this hook, which checks the checkpoint
    before it is loaded and raises a ``ValueError`` listing each mismatch.

    Args:
        max_lines: mismatches listed in the message (the total is always given).
    """

    priority = 'VERY_HIGH'

    def __init__(self, max_lines: int = 20) -> None:
        self.max_lines = max_lines

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        lines = checkpoint_mismatches(model.state_dict(), state)
        if lines:
            shown = '\n  '.join(lines[:self.max_lines])
            more = f'\n  ... and {len(lines) - self.max_lines} more' \
                if len(lines) > self.max_lines else ''
            raise ValueError(
                f'checkpoint {runner._load_from!r} does not match the model of this '
                f'config ({len(lines)} parameters differ); was it trained with another '
                f'config?\n  {shown}{more}')
