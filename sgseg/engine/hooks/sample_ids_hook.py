from typing import List

from mmengine.hooks import Hook

from sgseg.registry import HOOKS

SAMPLE_IDS_KEY = 'sample_ids'


def batch_sample_ids(data_batch) -> List:
    """Identify the samples of a collated batch: ``sent_id`` where there is one.

    Falls back to ``img_path`` (datasets without sentence ids) and then to the
    position in the batch.
    """
    samples = data_batch.get('data_samples', []) if isinstance(data_batch, dict) else []
    ids = []
    for i, ds in enumerate(samples):
        meta = getattr(ds, 'metainfo', {})
        ids.append(meta.get('sent_id', meta.get('img_path', f'#{i}')))
    return ids


@HOOKS.register_module()
class SampleIdsHook(Hook):
    """Publishes the ids of the current training batch on the message hub.

    Before every training iteration, ``runner.message_hub`` info ``'sample_ids'``
    becomes the batch's sample ids (see :func:`batch_sample_ids`), so that a
    component that sees only the loss (``NonFiniteGuardOptimWrapper``) can say which
    samples produced it, and a log can record the data order.
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        runner.message_hub.update_info(SAMPLE_IDS_KEY, batch_sample_ids(data_batch))
