# GroupViT (Xu et al., CVPR 2022) as the SaG paper compares it (Table 1, appendix B):
# GroupViT-S's image encoder (ViT-S/16 width, 6 + 3 + 3 blocks, 64 then 8 groups) at
# 384x384, a BERT text encoder, GroupViT's two-layer projection heads (BatchNorm, hidden
# 4096) to a 256-d joint space and its image-text contrastive loss (temperature 0.07,
# learned). The 12 transformer blocks, patch and position embeddings start from the
# ImageNet ViT-S/16 that SaG uses; the grouping blocks from their own initialisation
# (docs/methods.md says what this departs from).
# Inference (appendix B): each patch joins one final group; the groups closer to the
# sentence than to a background query form the mask.
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
    type='GroupViT',
    data_preprocessor=data_preprocessor,
    embed_dims=256,
    proj_hidden_dims=4096,
    proj_num_layers=2,
    backbone=dict(
        type='GroupingViT',
        model_name='vit_small_patch16_384',
        img_size=384,
        depths=(6, 3, 3),
        num_group_tokens=(64, 8),
        num_output_groups=(64, 8),
        drop_path_rate=0.1,
        gumbel=True,
        gumbel_tau=1.,
        pretrained=vit_checkpoint),
    text_encoder=dict(type='HFTextEncoder', path=text_model, frozen=False),
    text_pooling='cls',
    contrastive_loss=dict(type='ImageTextContrastiveLoss', init_temperature=0.07),
    train_cfg=dict(gather_negatives=True),
    test_cfg=dict(background_text='a photo of a nothing', assignment='hard', min_max=False,
                  threshold=0.5, crf=None))
