# MaskCLIP (Zhou et al., ECCV 2022) as a referring segmentor, at the sizes of the
# Shatter-and-Gather recipes so that the two compare (paper Table 1): ViT-S/16 at
# 384x384 and BERT-base, D = 512. No CLIP weights are assumed: the dual encoder is
# trained (the ViT and BERT from their usual pretrained weights) on the image-sentence
# pairs with CLIP's symmetric InfoNCE on the pooled embeddings (the ViT's class token,
# BERT's [CLS]), its temperature learned from CLIP's 0.07; at test time the dense
# value-path features of the last block are compared with the sentence (docs/methods.md).
# The ViT is the plain timm model at its own input size (the SaG recipes' build-at-480
# and LayerNorm eps are the SaG authors' choices). A sentence of the same image as the
# positive stays a negative, as in the SaG recipes' C^3 (mask_same_image=False).
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
    type='MaskCLIP',
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
    contrastive_loss=dict(type='CLIPContrastiveLoss', init_temperature=0.07,
                          learn_temperature=True, max_logit_scale=100.,
                          mask_same_image=False),
    train_cfg=dict(gather_negatives=True),
    test_cfg=dict(threshold=0.5, seed=0, crf=None))
