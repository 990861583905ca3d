from typing import Optional

from mmengine.hooks import Hook

from sgseg.registry import HOOKS
from sgseg.utils.progress import ProgressLog


@HOOKS.register_module()
class TestProgressHook(Hook):
    """Logs the progress of the test loop about ``num_logs`` times, with an ETA.

    mmengine's ``LoggerHook`` logs a test iteration every ``interval`` (50) batches:
    an evaluation shorter than that (the synthetic val split is 28 batches) prints
    nothing until its metrics. ``tools/test.py`` (through
    :func:`sgseg.apis.configure_test`) adds this hook, which scales its interval to
    the length of the split.

    Args:
        num_logs: progress lines per evaluation.
    """

    priority = 'LOW'

    def __init__(self, num_logs: int = 10) -> None:
        self.num_logs = num_logs
        self.progress: Optional[ProgressLog] = None

    def before_test_epoch(self, runner) -> None:
        self.progress = ProgressLog(len(runner.test_dataloader), 'test',
                                    num_logs=self.num_logs, logger=runner.logger.instance_name)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.progress is not None:
            self.progress.update()
