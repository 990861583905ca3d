"""A toy regressor, its data (with sentence ids) and a Runner config, for engine tests."""
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch.utils.data import Dataset

from sgseg.registry import DATASETS, MODELS


@MODELS.register_module(force=True)
class ToyIdRegressor(BaseModel):

    def __init__(self, width=1):
        super().__init__()
        self.linear = nn.Linear(4, width)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs)
        pred = self.linear(x).mean(1, keepdim=True)
        if mode == 'loss':
            return dict(loss=((pred - x.sum(1, keepdim=True))**2).mean())
        return pred


@DATASETS.register_module(force=True)
class ToyIdData(Dataset):
    """16 samples; sample ``nan_id`` (if any) holds a NaN, so its batch's loss is NaN."""

    def __init__(self, nan_id=None):
        self.x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
        if nan_id is not None:
            self.x[nan_id, 0] = float('nan')

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], data_samples=BaseDataElement(metainfo=dict(sent_id=100 + i)))


def toy_cfg(work_dir, max_iters=4, nan_id=None, on_nonfinite='raise', ckpt=None, width=1,
            lr=0.01, **extra):
    return dict(
        model=dict(type='ToyIdRegressor', width=width),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=dict(type='ToyIdData', nan_id=nan_id), batch_size=4,
                              sampler=dict(type='InfiniteSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate'), num_workers=0),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(type='NonFiniteGuardOptimWrapper', on_nonfinite=on_nonfinite,
                           optimizer=dict(type='SGD', lr=lr)),
        default_hooks=dict(checkpoint=ckpt or dict(type='AtomicCheckpointHook', interval=1,
                                                   by_epoch=False, max_keep_ckpts=3),
                           sample_ids=dict(type='SampleIdsHook'),
                           random_state=dict(type='RandomStateHook'),
                           resume_check=dict(type='ResumeCheckHook')),
        log_processor=dict(by_epoch=False),
        default_scope='sgseg',
        experiment_name=f'toy-{work_dir.name}-{max_iters}-{extra.get("resume", False)}',
        **extra)
