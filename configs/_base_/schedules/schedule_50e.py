# The paper's schedule: AdamW lr 1e-4 with cosine annealing, batch 32, 50 epochs.
# A NaN/Inf loss stops training naming the iteration and the sentence ids;
# on_nonfinite='skip' drops such batches instead (docs/reliability.md).
optim_wrapper = dict(
    type='NonFiniteGuardOptimWrapper',
    on_nonfinite='raise',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=50, eta_min=0, by_epoch=True, begin=0, end=50,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=32)
