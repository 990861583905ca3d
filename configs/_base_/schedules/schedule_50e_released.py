# The authors' released training scripts (they differ from the paper's text):
# AdamW lr 1e-5 with the ViT at x0.1, weight decay 1e-4 on all parameters, gradient
# clipping at 0.1 (after unscaling), AMP, 50 epochs; the loss is ramped by iter/5000
# over the first 5000 iterations (LossWarmupHook) and the cosine schedule is stepped
# per iteration only after those.
warmup_iters = 5000
# RefCOCO train has 120,624 sentences: 3,770 iterations an epoch at batch 32. A recipe
# for another dataset overrides param_scheduler with its own count.
iters_per_epoch = 3770
optim_wrapper = dict(
    type='NonFiniteGuardAmpOptimWrapper',
    on_nonfinite='raise',
    optimizer=dict(type='AdamW', lr=1e-5, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=0, by_epoch=False, begin=warmup_iters,
         end=50 * iters_per_epoch, T_max=50 * iters_per_epoch - warmup_iters),
]
custom_hooks = [dict(type='LossWarmupHook', warmup_iters=warmup_iters)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=32)
