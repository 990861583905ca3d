"""A test-only hook (imported by configs through custom_imports) that writes, per
training iteration, the iteration, the batch's sample ids and the exact loss."""
import json
import os

from mmengine.dist import get_rank
from mmengine.hooks import Hook

from sgseg.registry import HOOKS


@HOOKS.register_module(force=True)
class TraceHook(Hook):
    priority = 'LOW'

    def __init__(self, out: str):
        # one file per process; '{rank}' in ``out`` is the process rank
        self.out = out.replace('{rank}', str(get_rank()))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        line = dict(iter=runner.iter, ids=runner.message_hub.get_info('sample_ids'),
                    loss=float(outputs['loss']).hex())
        with open(self.out, 'a') as f:
            f.write(json.dumps(line) + '\n')
            f.flush()
            os.fsync(f.fileno())
