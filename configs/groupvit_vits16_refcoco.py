# GroupViT on RefCOCO, the "fine-tuned" setting of the SaG paper's Table 1 (10.82 /
# 11.11 / 11.29 mIoU on val / testA / testB there), trained from the image-sentence
# pairs of RefCOCO's train split; no mask is read.
# What comes from where (docs/methods.md, GroupViT):
# - GroupViT (Xu et al., 2022): GroupViT-S's image encoder (6 + 3 + 3 blocks of width
#   384, 64 then 8 groups, hard Gumbel assignment), its projection heads (two layers,
#   BatchNorm, hidden 4096, 256-d output) and its contrastive loss (temperature 0.07,
#   learned, clamped at 1/100), weight decay 0.05, gradient norm clipped at 5, a cosine
#   schedule after a linear warm-up;
# - the SaG paper's appendix B: batch 32 and lr 1e-5 ("matching our model"), a dummy
#   background query at inference, the mask kept where the sentence beats it;
# - sgseg, where neither says: 384x384 input, BERT-base (SaG's text encoder; GroupViT's
#   own is a 12-layer CLIP-style transformer), the ViT parts initialised from the
#   ImageNet ViT-S/16 SaG uses (GroupViT's CC12M+YFCC weights are not loaded), 50 epochs
#   (SaG's), the same data pipeline as SaG's RefCOCO recipe.
_base_ = [
    '_base_/models/groupvit_vits16.py', '_base_/datasets/refcoco.py',
    '_base_/default_runtime.py'
]
global_batch_size = 32
amp = 'auto'
optim_wrapper = dict(
    type='NonFiniteGuardOptimWrapper',
    on_nonfinite='raise',
    optimizer=dict(type='AdamW', lr=1e-5, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=5.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=True, begin=2, end=50,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=32)
