# The CPU schedule of the synthetic benchmark, shared by every method's embedded config
# (configs/*_vittiny_synthetic.py): 1600 iterations at batch 32, AdamW 3e-4 with 100
# warm-up iterations and a cosine decay, one evaluation and two checkpoints (at half and
# at the end), overlays of 8 validation samples. A config that changes `max_iters` also
# sets the schedule's ends and the checkpoint interval (as configs/sg_vittiny_synthetic.py
# does: 1800). It includes the default runtime.
_base_ = ['../default_runtime.py']

max_iters = 1600

optim_wrapper = dict(
    type='NonFiniteGuardOptimWrapper',
    on_nonfinite='raise',
    optimizer=dict(type='AdamW', lr=3e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=100, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

log_processor = dict(by_epoch=False, window_size=50)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=max_iters // 2,
                    max_keep_ckpts=2, save_best=None),
    visualization=dict(type='RefSegVisualizationHook', draw=True, max_samples=8))
randomness = dict(seed=0)
