# TSEG (Strudel, Laptev and Schmid, 2022) at the sizes of the Shatter-and-Gather recipes:
# ViT-S/16 at 384x384 (a 24x24 patch grid) and BERT-base, both fine-tuned, projected to
# D = 512. What is the original's and what is reconstructed: docs/methods.md. lse_r = 50
# as measured on the synthetic data; tau = 0.5 as SaG's (not tuned on RefCOCO).
vit_checkpoint = 'timm/vit_small_patch16_384.augreg_in21k_ft_in1k'
text_model = 'bert-base-uncased'

data_preprocessor = dict(
    type='RefSegDataPreProcessor',
    tokenizer=text_model,
    max_length=40,
    mean=[127.5, 127.5, 127.5],  # the ViT's own normalisation: mean = std = 0.5
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True)
model = dict(
    type='TSEG',
    data_preprocessor=data_preprocessor,
    embed_dims=512,
    backbone=dict(
        type='TimmViT',
        model_name='vit_small_patch16_384',
        img_size=384,
        drop_path_rate=0.1,
        pretrained=vit_checkpoint),
    text_encoder=dict(type='HFTextEncoder', path=text_model, frozen=False),
    text_pooling='cls',
    loss=dict(type='PatchAssignmentLoss', assign_temperature=0.1, lse_r=50.),
    train_cfg=dict(gather_negatives=True),
    test_cfg=dict(threshold=0.5, crf=None))
