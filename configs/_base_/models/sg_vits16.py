# Shatter and Gather with ViT-S/16 at 384x384 and BERT, as in the paper (Sec. 4.1).
# Pretrained weights are local files (sgseg never downloads): see docs/get_started.md.
vit_checkpoint = 'data/pretrained/vit_small_patch16_384.augreg_in21k_ft_in1k.npz'
text_model = 'data/pretrained/bert-base-uncased'

data_preprocessor = dict(
    type='RefSegDataPreProcessor',
    tokenizer=text_model,
    max_length=40,
    mean=[127.5, 127.5, 127.5],  # the ViT's own normalisation: mean = std = 0.5
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True)
model = dict(
    type='ShatterAndGather',
    data_preprocessor=data_preprocessor,
    embed_dims=512,  # D
    backbone=dict(
        type='TimmViT',
        model_name='vit_small_patch16_384',
        img_size=384,
        drop_path_rate=0.1,
        pretrained=vit_checkpoint),
    text_encoder=dict(type='HFTextEncoder', path=text_model, frozen=False),
    entity_discovery=dict(
        type='EntityDiscovery',
        slot_initializer=dict(type='EntitySlots', num_gaussians=18, slots_per_gaussian=2),
        hidden_dims=1024,  # D_h
        num_iters=6,  # T
        num_heads=4,
        inter_num_heads=4,
        inter_head_dims=128,
        mlp_ratio=4,
        dropout=0.1),
    fusion_head=dict(type='FusionHead', num_heads=4, head_dims=256, mlp_ratio=4, dropout=0.1),
    c3_loss=dict(type='C3Loss', temperature=1.0, mask_same_image=False),
    recon_loss=dict(
        type='ReconstructionLoss',
        decoder=dict(
            type='SpatialBroadcastDecoder',
            hidden_dims=512,
            num_layers=3,
            position_embedding='learned'),  # as the authors' code; the paper says sine
        loss_weight=1.0),
    test_cfg=dict(inference_scheme='fuse', threshold=0.5, num_slot_samples=1, seed=0,
                  crf=None))
