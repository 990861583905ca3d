# Shatter and Gather on RefCOCO, the paper's settings (Sec. 4.1): ViT-S/16 at 384,
# BERT, D=512, D_h=1024, T=6, K = 18 Gaussians x 2 slots, AdamW 1e-4 cosine,
# batch 32, 50 epochs, tau = 0.5.
_base_ = [
    '_base_/models/sg_vits16.py', '_base_/datasets/refcoco.py',
    '_base_/schedules/schedule_50e.py', '_base_/default_runtime.py'
]
