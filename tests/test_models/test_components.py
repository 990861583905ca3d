import pytest
import torch

from sgseg.models import (C3Loss, EntityDiscovery, EntitySlots, FusionHead, QuerySlots,
                          RandomSlots, ReconstructionLoss)
from sgseg.utils import register_all_modules

register_all_modules()


def discovery(**kw):
    cfg = dict(slot_initializer=dict(type='EntitySlots', num_gaussians=3, slots_per_gaussian=2),
               embed_dims=32, hidden_dims=32, num_iters=2, num_heads=2, inter_num_heads=2,
               inter_head_dims=16, dropout=0.)
    cfg.update(kw)
    return EntityDiscovery(**cfg)


def test_slot_initializers_shapes_and_groups():
    ent = EntitySlots(embed_dims=32, num_gaussians=3, slots_per_gaussian=2)
    assert ent(5).shape == (5, 6, 32) and ent.group_size == 2
    rnd = RandomSlots(embed_dims=32, num_slots=6)
    assert rnd(2).shape == (2, 6, 32) and rnd.group_size == 6
    qry = QuerySlots(embed_dims=32, num_slots=6)
    out = qry(3)
    assert out.shape == (3, 6, 32) and torch.equal(out[0], out[2])


def test_entity_slots_initial_sigma_norm_near_one():
    ent = EntitySlots(embed_dims=512, num_gaussians=18, slots_per_gaussian=2)
    sigma_norm = torch.exp(0.5 * ent.log_sigma).norm(dim=-1)
    assert torch.all((sigma_norm > 0.8) & (sigma_norm < 1.2))


def test_entity_slots_resampled_and_seedable():
    ent = EntitySlots(embed_dims=16, num_gaussians=2, slots_per_gaussian=3).eval()
    assert not torch.equal(ent(2), ent(2))  # a fresh draw every forward, eval included
    gens = lambda: [torch.Generator().manual_seed(s) for s in (1, 2)]  # noqa: E731
    a, b = ent(2, gens()), ent(2, gens())
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])
    torch.manual_seed(3)
    c = ent(2)
    torch.manual_seed(3)
    assert torch.equal(c, ent(2))


def test_num_slots_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r'num_slots \(36\) must equal num_gaussians \(18\) '
                       r'\* slots_per_gaussian \(3\)'):
        EntitySlots(embed_dims=8, num_slots=36, num_gaussians=18, slots_per_gaussian=3)


@pytest.mark.parametrize('kw', [dict(), dict(use_interaction=False),
                                dict(aggregation='transformer')])
def test_entity_discovery_shapes_and_normalisation(kw):
    module = discovery(**kw)
    feats = torch.randn(2, 12, 32)
    entities, attn = module(feats, (3, 4))
    assert entities.shape == (2, 6, 32) and attn.shape == (2, 12, 6)
    if kw.get('aggregation', 'slot') == 'slot':
        assert torch.allclose(attn.sum(-1), torch.ones(2, 12), atol=1e-5)
    else:
        assert torch.allclose(attn.sum(1), torch.ones(2, 6), atol=1e-5)


def test_interaction_stays_within_groups():
    """Changing one Gaussian's slots must not move another group's output slots
    through the interaction block."""
    module = discovery().eval()
    x = torch.randn(1, 6, 32)
    y = x.clone()
    y[:, 0:2] += 1.
    out_x, out_y = module.interact(x), module.interact(y)
    assert torch.allclose(out_x[:, 2:], out_y[:, 2:])
    assert not torch.allclose(out_x[:, :2], out_y[:, :2])


def test_entity_discovery_rejects_bad_aggregation():
    with pytest.raises(ValueError, match="aggregation must be 'slot' or 'transformer'"):
        discovery(aggregation='gru')


def test_fusion_pairwise_matches_per_pair():
    head = FusionHead(embed_dims=32, num_heads=2, head_dims=16, dropout=0.).eval()
    ents, text = torch.randn(3, 6, 32), torch.randn(3, 32)
    z, attn = head(ents, text, pairwise=True)
    assert z.shape == (3, 3, 32) and attn.shape == (3, 3, 6)
    assert torch.allclose(z.norm(dim=-1), torch.ones(3, 3), atol=1e-5)
    assert torch.allclose(attn.sum(-1), torch.ones(3, 3), atol=1e-5)
    for i in range(3):
        for j in range(3):
            zij, aij = head(ents[i:i + 1], text[j:j + 1])
            assert torch.allclose(z[i, j], zij[0], atol=1e-5)
            assert torch.allclose(attn[i, j], aij[0], atol=1e-5)


def test_fusion_without_text_residual_differs():
    torch.manual_seed(0)
    head = FusionHead(embed_dims=32, num_heads=2, head_dims=16, dropout=0.).eval()
    ents, text = torch.randn(2, 6, 32), torch.randn(2, 32)
    z_res, _ = head(ents, text)
    head.text_residual = False
    z_plain, _ = head(ents, text)
    assert not torch.allclose(z_res, z_plain)


def test_fusion_attention_temperature_sharpens_a_fuse():
    torch.manual_seed(0)
    head = FusionHead(embed_dims=32, num_heads=2, head_dims=16, dropout=0.).eval()
    ents, text = torch.randn(2, 6, 32), torch.randn(2, 32)
    _, attn = head(ents, text)
    sharp = FusionHead(embed_dims=32, num_heads=2, head_dims=16, dropout=0.,
                       attn_temperature=0.25).eval()
    sharp.load_state_dict(head.state_dict())
    _, attn_sharp = sharp(ents, text)

    def entropy(a):
        return -(a * a.clamp_min(1e-12).log()).sum(-1)
    assert torch.allclose(attn_sharp.sum(-1), torch.ones(2))
    assert (entropy(attn_sharp) < entropy(attn)).all()
    with pytest.raises(ValueError, match='attn_temperature'):
        FusionHead(embed_dims=32, attn_temperature=0.)


def test_fusion_null_entity_takes_attention_and_keeps_pairwise_equal():
    torch.manual_seed(0)
    head = FusionHead(embed_dims=32, num_heads=2, head_dims=16, dropout=0.,
                      null_entity=True).eval()
    with torch.no_grad():
        head.null_key.normal_(0, 3.)
    ents, text = torch.randn(3, 6, 32), torch.randn(3, 32)
    z, attn = head(ents, text)
    total = attn.sum(-1)
    assert (total < 1 - 1e-3).all() and (total > 0).all()
    z_pairs, attn_pairs = head(ents, text, pairwise=True)
    for b in range(3):
        torch.testing.assert_close(z_pairs[b, b], z[b])
        torch.testing.assert_close(attn_pairs[b, b], attn[b])
    # a null key far below every entity's logit changes nothing
    plain = FusionHead(embed_dims=32, num_heads=2, head_dims=16, dropout=0.).eval()
    plain.load_state_dict({k: v for k, v in head.state_dict().items() if k != 'null_key'})
    with torch.no_grad():
        head.to_q.weight.zero_()
        head.to_q.bias.fill_(1.)
        plain.to_q.weight.zero_()
        plain.to_q.bias.fill_(1.)
        head.null_key.fill_(-1e3)
    torch.testing.assert_close(head(ents, text)[1], plain(ents, text)[1])


def naive_c3(head, ents, text, image_ids=None, mask_same=False):
    """Eq. 8 with a Python loop over (text, image) pairs."""
    B = text.shape[0]
    total = 0.
    for j in range(B):
        logits = []
        for i in range(B):
            if mask_same and i != j and image_ids[i] == image_ids[j]:
                continue
            z, _ = head(ents[i:i + 1], text[j:j + 1])
            logits.append((z[0] * text[j]).sum())
        logits = torch.stack(logits)
        pos = sum(1 for i in range(j) if not (mask_same and image_ids[i] == image_ids[j]))
        total = total - torch.log_softmax(logits, 0)[pos]
    return total / B


@pytest.mark.parametrize('mask_same', [False, True])
def test_c3_batched_equals_naive_loop(mask_same):
    torch.manual_seed(0)
    head = FusionHead(embed_dims=32, num_heads=2, head_dims=16, dropout=0.).eval()
    ents, text = torch.randn(5, 6, 32), torch.randn(5, 32)
    ids = torch.tensor([0, 1, 0, 2, 1])
    z, _ = head(ents, text, pairwise=True)
    batched = C3Loss(mask_same_image=mask_same)(z, text, ids)
    assert torch.allclose(batched, naive_c3(head, ents, text, ids, mask_same), atol=1e-5)


def test_c3_false_negative_switch_only_matters_for_shared_images():
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(4, 4, 32), dim=-1)
    text = torch.randn(4, 32)
    on, off = C3Loss(mask_same_image=True), C3Loss(mask_same_image=False)
    distinct = torch.tensor([0, 1, 2, 3])
    assert torch.allclose(on(z, text, distinct), off(z, text, distinct))
    shared = torch.tensor([0, 1, 0, 3])
    assert on(z, text, shared) < off(z, text, shared)


def test_c3_stops_gradient_at_text_target():
    z = torch.nn.functional.normalize(torch.randn(3, 3, 8), dim=-1).requires_grad_()
    text = torch.randn(3, 8, requires_grad=True)
    C3Loss()(z, text).backward()
    assert z.grad is not None and text.grad is None


@pytest.mark.parametrize('pos', ['learned', 'sine'])
def test_reconstruction_loss_shapes_and_detached_target(pos):
    loss = ReconstructionLoss(decoder=dict(type='SpatialBroadcastDecoder', embed_dims=32,
                                           out_dims=24, hidden_dims=32,
                                           position_embedding=pos))
    entities = torch.randn(2, 6, 32, requires_grad=True)
    target = torch.randn(2, 12, 24, requires_grad=True)
    recon, alpha = loss.decoder(entities, (3, 4))
    assert recon.shape == (2, 12, 24) and alpha.shape == (2, 6, 12)
    assert torch.allclose(alpha.sum(1), torch.ones(2, 12), atol=1e-5)
    loss(entities, target, (3, 4)).backward()
    assert entities.grad is not None and target.grad is None
