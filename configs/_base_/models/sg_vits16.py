# Shatter and Gather with ViT-S/16 at 384x384 and BERT, as in the paper (Sec. 4.1).
# Pretrained weights are hub ids, loaded through timm / transformers into the standard
# Hugging Face cache on first use (HF_HUB_OFFLINE=1: from the cache only); a local
# folder or file works too (docs/get_started.md).
# Where the paper is silent, the model follows the authors' released code; each such
# choice is a named option here, its other value the alternative (docs/model_zoo.md):
#   backbone build_img_size=480, norm_eps=1e-5: the ViT is built at 480 and its position
#     embedding resized (bilinear) to the 24x24 grid of a 384 input at every forward;
#     LayerNorm eps 1e-5 (timm's default is 1e-6);
#   slot_initializer init_style='authors': entity-slot mean and log-variance Xavier over
#     a (1, K_g, D) tensor;
#   qkv_bias=False: q/k/v projections without bias in every attention of the head;
#   dropout_layout='authors': dropout after the GELU of each feed-forward and on each
#     attention output, none after a feed-forward's output, none on attention weights;
#   train_cfg.gather_negatives=True: on N processes C3 contrasts every sentence with the
#     images of all of them, the single-process loss of the global batch.
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
    type='ShatterAndGather',
    data_preprocessor=data_preprocessor,
    embed_dims=512,  # D
    backbone=dict(
        type='TimmViT',
        model_name='vit_small_patch16_384',
        img_size=384,
        build_img_size=480,
        norm_eps=1e-5,
        drop_path_rate=0.1,
        pretrained=vit_checkpoint),
    text_encoder=dict(type='HFTextEncoder', path=text_model, frozen=False),
    entity_discovery=dict(
        type='EntityDiscovery',
        slot_initializer=dict(type='EntitySlots', num_gaussians=18, slots_per_gaussian=2,
                              init_style='authors'),
        hidden_dims=1024,  # D_h
        num_iters=6,  # T
        num_heads=4,
        inter_num_heads=4,
        inter_head_dims=128,
        mlp_ratio=4,
        dropout=0.1,
        qkv_bias=False,
        dropout_layout='authors'),
    fusion_head=dict(type='FusionHead', num_heads=4, head_dims=256, mlp_ratio=4, dropout=0.1,
                     qkv_bias=False, dropout_layout='authors'),
    c3_loss=dict(type='C3Loss', temperature=1.0, mask_same_image=False),
    recon_loss=dict(
        type='ReconstructionLoss',
        decoder=dict(
            type='SpatialBroadcastDecoder',
            hidden_dims=512,
            num_layers=3,
            position_embedding='learned'),  # as the authors' code; the paper says sine
        loss_weight=1.0),
    train_cfg=dict(gather_negatives=True),
    test_cfg=dict(inference_scheme='fuse', threshold=0.5, num_slot_samples=1, seed=0,
                  crf=None))
