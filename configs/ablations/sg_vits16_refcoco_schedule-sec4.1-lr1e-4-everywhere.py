# Ablation: the schedule as the paper's Sec. 4.1 writes it, not as the authors' scripts
# ran it: AdamW 1e-4 on every parameter (the pretrained ViT and BERT included), cosine
# annealing per iteration from the first one, no gradient clipping, no loss ramp.
# Appendix B says 1e-5 "matching our model" (docs/model_zoo.md). Scale rules stay.
_base_ = ['../sg_vits16_refcoco.py']
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=None, clip_grad=None)
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=True, begin=0, convert_to_iter_based=True)
]
custom_hooks = []
