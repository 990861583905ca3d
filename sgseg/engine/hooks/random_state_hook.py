import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from sgseg.registry import HOOKS


def get_random_states() -> dict:
    """The global generators' states: torch (CPU and every CUDA device), numpy, python."""
    states = dict(torch=torch.get_rng_state(), numpy=np.random.get_state(),
                  python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict, keys=('torch', 'cuda', 'numpy', 'python')) -> None:
    """Restore the generators of ``keys`` present in ``states`` (see :func:`get_random_states`)."""
    if 'torch' in keys and 'torch' in states:
        torch.set_rng_state(states['torch'])
    if 'cuda' in keys and 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])
    if 'numpy' in keys and 'numpy' in states:
        np.random.set_state(states['numpy'])
    if 'python' in keys and 'python' in states:
        random.setstate(states['python'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Makes a resumed run draw the same random numbers as an uninterrupted one.

    mmengine's ``resume`` restores weights, optimizer, schedulers, the message hub and
    the iteration, and skips the batches already trained by fetching them again, but
    it only *re-seeds* the global generators. Slot sampling (Eq. 2: fresh noise every
    forward), dropout and drop-path draw from the global torch generator, so after a
    resume they would repeat the draws of the first iterations instead of continuing.

    This hook

    - stores the torch (CPU and CUDA) generator states in every checkpoint
      (``checkpoint['random_states']``, with numpy's and python's for inspection), and
      restores them right before the first training iteration of a resumed run, i.e.
      after mmengine has re-fetched the skipped batches;
    - leaves numpy's and python's generators alone on resume: in sgseg only the data
      pipeline draws from them, and re-fetching the skipped batches replays exactly
      those draws (in the main process; dataloader workers are re-seeded from the
      same seed), so restoring them would make the next batches wrong;
    - runs validation on a copy of the generator states, so a validation in the
      middle of training does not shift the training draws (and a run resumed after
      such a validation matches one that went through it).

    The states saved are rank 0's (mmengine writes checkpoints on rank 0 only); with
    the default ``randomness`` (no ``diff_rank_seed``) every rank has the same states,
    so every rank restores them. With ``diff_rank_seed=True`` only rank 0 restores,
    and the other ranks continue from their re-seeded generators.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._pending_iter = -1
        self._outside_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['random_states'] = get_random_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get('random_states')
        if states is None:
            return
        # ``load_from`` (fine-tuning, testing) must not inherit the states: they are
        # applied only when training continues at the checkpoint's iteration.
        self._pending = states
        self._pending_iter = checkpoint.get('meta', {}).get('iter', -1)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._pending is None:
            return
        states, self._pending = self._pending, None
        if runner.iter != self._pending_iter or self._pending_iter <= 0:
            return
        if get_rank() != 0 and runner._randomness_cfg.get('diff_rank_seed', False):
            return
        set_random_states(states, keys=('torch', 'cuda'))

    def before_val(self, runner) -> None:
        self._outside_val = get_random_states()

    def after_val(self, runner) -> None:
        if self._outside_val is not None:
            set_random_states(self._outside_val)
            self._outside_val = None
