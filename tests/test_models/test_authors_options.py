"""The options where the paper recipes follow the authors' code, and the CPU default
keeping its own behaviour."""
import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from sgseg.models.heads import EntityDiscovery, FusionHead
from sgseg.models.slots import EntitySlots, QuerySlots, RandomSlots
from sgseg.models.utils import FeedForward
from sgseg.registry import MODELS
from sgseg.utils import register_all_modules
from .tiny import make_batch

ROOT = Path(__file__).resolve().parents[2]
# the keys the paper recipes gained for the authors' behaviour; without them a module
# has its earlier behaviour
NEW_KEYS = {'backbone': ('build_img_size', 'norm_eps'),
            'entity_discovery': ('qkv_bias', 'dropout_layout'),
            'fusion_head': ('qkv_bias', 'dropout_layout')}


def test_synthetic_default_trains_what_it_trained_before():
    register_all_modules()
    cfg = Config.fromfile(str(ROOT / 'configs' / 'sg_vittiny_synthetic.py')).model.to_dict()
    before = copy.deepcopy(cfg)
    for module, keys in NEW_KEYS.items():
        for key in keys:
            before[module].pop(key)
    before['entity_discovery']['slot_initializer'].pop('init_style')
    before.pop('train_cfg')
    models = []
    for model_cfg in (cfg, before):
        torch.manual_seed(0)
        models.append(MODELS.build(model_cfg))
    new, old = models
    assert new.train_cfg == {'gather_negatives': False} and old.train_cfg == {}
    old_state = old.state_dict()
    assert new.state_dict().keys() == old_state.keys()
    for key, value in new.state_dict().items():
        assert torch.equal(value, old_state[key]), key
    losses = []
    for model in (new, old):
        model.train()
        torch.manual_seed(1)
        batch = make_batch(4)
        batch['inputs'] = [F.interpolate(img[None].float(), size=(128, 128))[0].byte()
                           for img in batch['inputs']]
        data = model.data_preprocessor(batch, training=True)
        losses.append(model.loss(**data))
    assert losses[0].keys() == losses[1].keys()
    for key in losses[0]:
        assert torch.equal(losses[0][key], losses[1][key]), key


def test_entity_slot_means_use_the_fans_of_a_1_kg_d_tensor():
    torch.manual_seed(0)
    D, Kg = 512, 18
    for style, bound in (('sgseg', math.sqrt(6 / (D + Kg))),
                         ('authors', math.sqrt(6 / (Kg * D + D)))):
        slots = EntitySlots(D, num_gaussians=Kg, slots_per_gaussian=2, init_style=style)
        assert 0.95 * bound < slots.mu.abs().max() <= bound, style
        sigma = torch.exp(0.5 * slots.log_sigma.detach())
        assert sigma.mean() == pytest.approx(D**-0.5, rel=0.05), style
    with pytest.raises(ValueError, match="EntitySlots: init_style must be one of"):
        EntitySlots(D, init_style='xavier')


def test_random_slots_start_at_sigma_one_and_query_slots_at_randn():
    torch.manual_seed(0)
    D = 512
    authors = torch.exp(0.5 * RandomSlots(D, num_slots=36, init_style='authors').log_sigma.detach())
    bound = math.sqrt(3 / D)  # Xavier over (1, 1, D)
    assert math.exp(-bound) - 1e-6 <= authors.min() and authors.max() <= math.exp(bound) + 1e-6
    sgseg = torch.exp(0.5 * RandomSlots(D, num_slots=36).log_sigma.detach())
    assert sgseg.mean() == pytest.approx(D**-0.5, rel=0.05)
    queries = QuerySlots(D, num_slots=36, init_style='authors').queries.detach()
    assert queries.std().item() == pytest.approx(1., abs=0.03)
    assert QuerySlots(D, num_slots=36).queries.abs().max() <= math.sqrt(6 / (D + 36))


def test_qkv_bias_and_dropout_layout():
    heads = [EntityDiscovery(dict(type='EntitySlots', num_gaussians=2, slots_per_gaussian=2),
                             embed_dims=16, hidden_dims=16, num_heads=2, inter_num_heads=2,
                             inter_head_dims=8, dropout=0.5, qkv_bias=False,
                             dropout_layout='authors'),
             FusionHead(16, num_heads=2, head_dims=8, dropout=0.5, qkv_bias=False,
                        dropout_layout='authors')]
    ed, fusion = heads
    for layer in (ed.to_q, ed.to_k, ed.to_v, ed.interaction.qkv, fusion.to_q, fusion.to_k,
                  fusion.to_v):
        assert layer.bias is None
    assert ed.to_out.bias is not None and fusion.to_out.bias is not None
    assert ed.interaction.attn_dropout == 0.  # no dropout on attention weights
    for ffn in (ed.mlp, ed.interaction.ffn, fusion.ffn):
        assert isinstance(ffn.drop_out, nn.Identity) and ffn.drop.p == 0.5
    default = EntityDiscovery(dict(type='EntitySlots', num_gaussians=2, slots_per_gaussian=2),
                              embed_dims=16, hidden_dims=16, num_heads=2, inter_num_heads=2,
                              inter_head_dims=8, dropout=0.5)
    assert default.to_q.bias is not None and default.interaction.attn_dropout == 0.5
    assert isinstance(default.mlp.drop_out, nn.Dropout)
    with pytest.raises(ValueError, match="FusionHead: dropout_layout must be one of"):
        FusionHead(16, dropout_layout='paper')


def test_feed_forward_drops_only_after_the_activation():
    ffn = FeedForward(8, 2, dropout=0.5, output_dropout=False).train()
    x = torch.randn(3, 8)
    torch.manual_seed(0)
    out = ffn(x)
    torch.manual_seed(0)
    expected = ffn.fc2(F.dropout(F.gelu(ffn.fc1(ffn.norm(x))), 0.5, training=True))
    torch.testing.assert_close(out, expected)


def vit(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='TimmViT', model_name='vit_tiny_patch16_224', patch_size=8,
                             embed_dim=24, depth=1, num_heads=2, drop_path_rate=0., **kwargs))


def test_vit_built_larger_resizes_its_position_embedding_bilinearly():
    register_all_modules()
    x = torch.randn(2, 3, 32, 32)
    plain, same = vit(img_size=32), vit(img_size=32, build_img_size=32)
    torch.testing.assert_close(same(x)[0], plain(x)[0])

    large = vit(img_size=32, build_img_size=48, norm_eps=1e-5).eval()
    assert large.vit.pos_embed.shape == (1, 1 + 6 * 6, 24)
    assert all(m.eps == 1e-5 for m in large.modules() if isinstance(m, nn.LayerNorm))
    tokens, grid = large(x)
    assert tokens.shape == (2, 16, 24) and grid == (4, 4)
    # the same ViT built at 32 with the bilinearly resized embedding gives the same tokens
    small = vit(img_size=32, norm_eps=1e-5).eval()
    small.load_state_dict({k: v for k, v in large.state_dict().items() if 'pos_embed' not in k},
                          strict=False)
    pos = large.vit.pos_embed
    grid_pos = F.interpolate(pos[:, 1:].reshape(1, 6, 6, 24).permute(0, 3, 1, 2), size=(4, 4),
                             mode='bilinear', align_corners=False)
    with torch.no_grad():
        small.vit.pos_embed.copy_(torch.cat([pos[:, :1],
                                             grid_pos.permute(0, 2, 3, 1).reshape(1, 16, 24)], 1))
    torch.testing.assert_close(small(x)[0], tokens)
