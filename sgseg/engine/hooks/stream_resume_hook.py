import logging
from typing import Optional

from mmengine.dist import get_world_size
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

    The resume is exact when the stream is split as it was (see
    :class:`WebImageTextDataset`): checkpoints record the split (processes, workers,
    batch size, seed, shards), and a resume with another split says which keys changed
    (the current epoch's samples may then be repeated or skipped, later epochs are
    whole again).
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._saved: Optional[dict] = None

    @staticmethod
    def stream_split(dataloader) -> dict:
        """What a stream's resume point depends on."""
        dataset = dataloader.dataset
        return dict(world_size=get_world_size(), num_workers=dataloader.num_workers,
                    batch_size=dataloader.batch_size, seed=dataset.seed,
                    num_shards=len(dataset.shards))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if hasattr(runner.train_loop.dataloader.dataset, 'set_resume_point'):
            checkpoint['stream_split'] = self.stream_split(runner.train_loop.dataloader)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._saved = checkpoint.get('stream_split')

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        dataloader = loop.dataloader
        dataset = dataloader.dataset
        if runner.iter == 0 or not hasattr(dataset, 'set_resume_point'):
            return
        now = self.stream_split(dataloader)
        changed = {k: (v, now.get(k)) for k, v in (self._saved or {}).items()
                   if now.get(k) != v}
        if changed:
            print_log(f'{type(dataset).__name__}: the stream is split otherwise than in the '
                      'checkpoint (' + ', '.join(f'{k} {a} -> {b}' for k, (a, b) in
                                                 changed.items())
                      + '): the current epoch may repeat or skip samples', logger='current',
                      level=logging.WARNING)
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
