default_scope = 'sgseg'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=True, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=1)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Atomic writes + a repaired `last_checkpoint` pointer: a killed run always
    # resumes (docs/reliability.md). The last checkpoint is the one to report: no
    # checkpoint is picked on a split with masks. save_best='mIoU' keeps the best on
    # val_dataloader's split as well (say so when reporting it: docs/model_zoo.md).
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=3,
                    save_last=True, save_best=None),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='RefSegVisualizationHook', draw=False),
    # Checkpoints carry the torch generator states, so a resumed run samples the
    # same slots as an uninterrupted one; validation does not shift them.
    random_state=dict(type='RandomStateHook'),
    # On --resume: refuses a checkpoint of another model, names the optimizer and
    # scheduler values of this config that differ from the checkpoint's (which win).
    resume_check=dict(type='ResumeCheckHook'),
    # The batch's sentence ids on the message hub, for NonFiniteGuardOptimWrapper.
    sample_ids=dict(type='SampleIdsHook'),
    # A streamed training set (WebDataset shards) resumes right after the last sample
    # trained on; a no-op for the other datasets.
    stream_resume=dict(type='StreamResumeHook'),
)
