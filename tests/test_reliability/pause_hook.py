"""A test-only hook (imported by configs through custom_imports) that stops a training
process at a chosen point and tells the test, which then SIGKILLs it there.

Points (``where``):

- ``'iter'``: iteration ``iter`` (0-based) has run its optimizer step and been traced
  (``TraceHook`` has a higher priority), but its checkpoint is not written yet.
- ``'checkpoint'``: the checkpoint written after iteration ``iter`` is complete in its
  temporary file, and the atomic rename onto ``iter_<iter + 1>.pth`` has not happened.

At the point, the hook creates ``signal_file`` (its content says where it stopped) and
sleeps until it is killed.
"""
import os
import os.path as osp
import time
import types

from mmengine.hooks import Hook

from sgseg.engine import atomic_io
from sgseg.registry import HOOKS


def _stop(signal_file: str, what: str) -> None:
    with open(signal_file, 'w') as f:
        f.write(what)
    while True:
        time.sleep(60)


@HOOKS.register_module(force=True)
class PauseHook(Hook):
    # after TraceHook (LOW = 70), before the checkpoint hook (VERY_LOW = 90)
    priority = 80

    def __init__(self, where: str, iter: int, signal_file: str):
        assert where in ('iter', 'checkpoint'), where
        self.where, self.iter, self.signal_file = where, iter, signal_file
        if where == 'checkpoint':
            # atomic_io sees an ``os`` whose ``replace`` stops before renaming the
            # finished temporary file onto this checkpoint; other files pass through
            target = f'iter_{iter + 1}.pth'

            def replace(src, dst):
                if osp.basename(dst) == target:
                    _stop(signal_file, f'checkpoint {src} -> {dst}')
                os.replace(src, dst)

            patched = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os)
                                               if not k.startswith('__')})
            patched.replace = replace
            atomic_io.os = patched

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.where == 'iter' and runner.iter == self.iter:
            _stop(self.signal_file, f'iteration {runner.iter}')
