"""A test-only hook (imported by configs through custom_imports) that ends the process
abruptly after a given iteration, as a killed job would end."""
import os

from mmengine.hooks import Hook

from sgseg.registry import HOOKS


@HOOKS.register_module(force=True)
class ExitAfterHook(Hook):
    # after the checkpoint hook, so that the iteration's checkpoint is on disk
    priority = 'LOWEST'

    def __init__(self, iters: int):
        self.iters = iters

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iters:
            os._exit(3)
