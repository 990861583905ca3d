from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner.loops import _InfiniteDataloaderIterator

from sgseg.registry import HOOKS


class _AdvancedIterator:
    """Answers the first ``num_skipped`` ``next()`` calls with None, then delegates.

    mmengine's ``IterBasedTrainLoop.run`` fetches (and discards) ``iter`` batches on
    resume to skip the data already trained; a stream that resumes by itself needs
    no such fetch, so those calls get a placeholder instead of decoding images.
    """

    def __init__(self, iterator, num_skipped: int) -> None:
        self.iterator, self.num_skipped = iterator, num_skipped

    def __iter__(self):
        return self

    def __next__(self):
        if self.num_skipped > 0:
            self.num_skipped -= 1
            return None
        return next(self.iterator)


@HOOKS.register_module()
class StreamResumeHook(Hook):
    """Resumes a streamed training set where the checkpoint left it.

    With a dataset that has ``set_resume_point`` (:class:`WebImageTextDataset`) and a
    run resumed at iteration ``n > 0``, before training starts this hook tells the
    dataset that every rank's dataloader had delivered ``n`` batches, restarts the
    dataloader's workers so that they see it, and lets mmengine's skip of the first
    ``n`` batches pass without fetching them. Any other dataset is left alone.
    """

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        dataloader = loop.dataloader
        dataset = dataloader.dataset
        if runner.iter == 0 or not hasattr(dataset, 'set_resume_point'):
            return
        dataset.set_resume_point(runner.iter, dataloader.batch_size, dataloader.num_workers)
        # The workers hold a copy of the dataset made when the loop was built, before
        # the checkpoint was loaded: end them and start new ones.
        old = getattr(loop.dataloader_iterator, '_iterator', None)
        if hasattr(old, '_shutdown_workers'):
            old._shutdown_workers()
        if getattr(dataloader, '_iterator', None) is not None:
            dataloader._iterator = None
        loop.dataloader_iterator = _AdvancedIterator(
            _InfiniteDataloaderIterator(dataloader), runner.iter)
        print_log(f'{type(dataset).__name__} resumes after {runner.iter} batches per rank',
                  logger='current')
