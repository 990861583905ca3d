# The recipes' schedule: the hyper-parameters of the authors' released training scripts
# (train_eval_unc.sh and siblings), which the paper's Appendix B confirms ("1e-5,
# matching the hyperparameters used for our model") where its Sec. 4.1 says 1e-4
# (docs/model_zoo.md; Sec. 4.1's schedule is the ablation
# configs/ablations/sg_vits16_refcoco_schedule-sec4.1-lr1e-4-everywhere.py):
# - AdamW, lr 1e-5, the ViT at x0.1 (everything else x1), weight decay 1e-4 on every
#   parameter, gradient norm clipped at 0.1 (after unscaling under AMP);
# - the loss ramped by (iter + 1) / 5000 over the first 5000 iterations (LossWarmupHook),
#   the lr held meanwhile, then a per-iteration cosine whose period is the whole run
#   (HoldCosineAnnealingLR);
# - 50 epochs of a global batch of 32.
# Scale: no iteration count is written here. `global_batch_size` is the invariant:
# tools/train.py gives each of N processes 32 / N samples, the model gathers C3's
# negatives across processes (model.train_cfg.gather_negatives), and the Runner turns
# epochs into iterations from the real dataloader length, so 1 GPU x 32 and 8 GPUs x 4
# train the same schedule on any dataset. Another global_batch_size scales the lr
# linearly (auto_scale_lr) and changes C3's negative pool; tools/train.py warns.
# AMP: 'auto' is on with CUDA (bf16 where supported, else fp16), off on the CPU.
# A NaN/Inf loss stops training naming the iteration and the sentence ids;
# on_nonfinite='skip' drops such batches instead (docs/reliability.md).
global_batch_size = 32
warmup_iters = 5000
amp = 'auto'
optim_wrapper = dict(
    type='NonFiniteGuardOptimWrapper',
    on_nonfinite='raise',
    optimizer=dict(type='AdamW', lr=1e-5, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(type='HoldCosineAnnealingLR', hold_iters=warmup_iters, eta_min=0., by_epoch=True,
         begin=0, convert_to_iter_based=True)
]
custom_hooks = [dict(type='LossWarmupHook', warmup_iters=warmup_iters)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=32)
