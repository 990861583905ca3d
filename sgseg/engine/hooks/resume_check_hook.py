import numbers
from typing import List

from mmengine.hooks import Hook

from sgseg.registry import HOOKS
from .checkpoint_match_hook import CheckpointMatchHook

# Scheduler state that changes as training runs, not a setting of the config.
_SCHEDULER_PROGRESS = {'last_step', '_global_step', '_get_value_called_within_step',
                       '_last_value', 'base_values', 'verbose'}


def _scalar(value) -> bool:
    return isinstance(value, (numbers.Number, str)) or value is None


def optimizer_differences(current: dict, saved: dict) -> List[str]:
    """Hyper-parameters of the optimizer's param groups that differ from the checkpoint's.

    Args:
        current: the optimizer state dict of this config (schedulers built, so
            ``initial_lr`` holds the configured lr).
        saved: the checkpoint's optimizer state dict.

    Returns:
        Lines ``'optimizer lr: config 0.01, checkpoint 0.0003'`` (the group index
        is added when there are several groups).
    """
    lines = []
    groups = list(zip(current['param_groups'], saved['param_groups']))
    for i, (now, then) in enumerate(groups):
        where = f'optimizer (group {i})' if len(groups) > 1 else 'optimizer'
        # with a scheduler, lr is scheduled and initial_lr is the configured one
        skip = {'params', 'lr'} if 'initial_lr' in now and 'initial_lr' in then else \
            {'params', 'initial_lr'}
        for key in sorted(set(now) & set(then) - skip):
            a, b = (list(v) if isinstance(v, tuple) else v for v in (now[key], then[key]))
            if (_scalar(a) or isinstance(a, list)) and a != b:
                name = 'lr' if key == 'initial_lr' else key
                lines.append(f'{where} {name}: config {a}, checkpoint {b}')
    return lines


def scheduler_differences(current: list, saved: list) -> List[str]:
    """Settings of the parameter schedulers that differ from the checkpoint's.

    Args:
        current: this config's schedulers' ``state_dict()``s.
        saved: the checkpoint's ``param_schedulers`` list.
    """
    lines = []
    if len(current) != len(saved):
        return [f'param_scheduler: config has {len(current)} schedulers, checkpoint {len(saved)}']
    for i, (now, then) in enumerate(zip(current, saved)):
        for key in sorted(set(now) & set(then) - _SCHEDULER_PROGRESS):
            if _scalar(now[key]) and now[key] != then[key]:
                lines.append(f'param_scheduler[{i}] {key}: config {now[key]}, '
                             f'checkpoint {then[key]}')
    return lines


def optimizer_shape_problems(optimizer, saved: dict) -> List[str]:
    """Why the checkpoint's optimizer state cannot be loaded into ``optimizer``.

    Checks the number and sizes of the parameter groups and the shape of every
    per-parameter state tensor (e.g. Adam's ``exp_avg``) against its parameter.
    """
    groups = optimizer.param_groups
    sizes = [len(g['params']) for g in groups]
    saved_sizes = [len(g['params']) for g in saved['param_groups']]
    if sizes != saved_sizes:
        return [f'parameter groups of sizes {sizes} in this config, {saved_sizes} in the '
                f'checkpoint']
    params = [p for g in groups for p in g['params']]
    ids = [i for g in saved['param_groups'] for i in g['params']]
    problems = []
    for param, idx in zip(params, ids):
        for key, value in saved.get('state', {}).get(idx, {}).items():
            if getattr(value, 'dim', lambda: 0)() > 0 and tuple(value.shape) != tuple(param.shape):
                problems.append(f'state {idx}.{key}: checkpoint {tuple(value.shape)} vs '
                                f'parameter {tuple(param.shape)}')
    return problems


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """Checks, on ``--resume``, that the checkpoint belongs to this config.

    mmengine's resume loads the weights non-strictly (a parameter of another shape is
    only a logged warning), reports "resumed", and then fails on the first optimizer
    step with an Adam shape error; and it silently replaces the optimizer and
    scheduler settings of the config by the checkpoint's. Before anything is loaded,
    this hook

    - refuses a checkpoint whose parameters differ from the model's, naming each one
      (as :class:`CheckpointMatchHook` does for ``load_from``), or whose optimizer
      state does not fit the optimizer of this config (groups, state shapes);
    - warns, listing each value, when the optimizer's hyper-parameters (``lr``,
      ``weight_decay``, ``betas``, ...) or the schedulers' settings of this config
      differ from the checkpoint's. **The checkpoint's values win**: resume continues
      the saved run. ``train_cfg.max_iters`` is the config's (a run can be
      extended). To train on with new values, start a new run with
      ``load_from=<checkpoint>`` (weights only).

    A plain ``load_from`` (fine-tuning, testing) is not checked here.
    """

    priority = 'VERY_HIGH'

    def __init__(self, max_lines: int = 20) -> None:
        self.max_lines = max_lines

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner._resume:
            return
        CheckpointMatchHook(self.max_lines).after_load_checkpoint(runner, checkpoint)
        source = runner._load_from
        optim_wrapper = runner.optim_wrapper
        saved = checkpoint.get('optimizer')
        if not hasattr(optim_wrapper, 'optimizer') or not isinstance(saved, dict) or \
                'param_groups' not in saved:
            return
        problems = optimizer_shape_problems(optim_wrapper.optimizer, saved)
        if problems:
            raise ValueError(f'--resume: the optimizer state of checkpoint {source!r} does not '
                             f'fit the optimizer of this config: ' + '; '.join(problems[:5]))
        lines = optimizer_differences(optim_wrapper.optimizer.state_dict(), saved)
        schedulers = runner.param_schedulers
        if isinstance(schedulers, list) and isinstance(checkpoint.get('param_schedulers'), list):
            lines += scheduler_differences([s.state_dict() for s in schedulers],
                                           checkpoint['param_schedulers'])
        if lines:
            runner.logger.warning(
                f'--resume: this config differs from checkpoint {source!r} in '
                f'{len(lines)} value(s); the CHECKPOINT\'s values are used (resume '
                f'continues the saved run; to train with the new values, start a new run '
                f'with load_from=<checkpoint>):\n  ' + '\n  '.join(lines))
