"""Reconstruction at sampled positions: unbiased, exact at ratio 1, exact decoder rewrite."""
import pytest
import torch
import torch.nn.functional as F

from sgseg.models.losses import ReconstructionLoss
from tests.test_models.tiny import build_tiny, make_batch

B, K, D, C, GRID = 2, 6, 32, 24, (3, 4)


def make_loss(**kwargs) -> ReconstructionLoss:
    torch.manual_seed(0)
    decoder = dict(type='SpatialBroadcastDecoder', embed_dims=D, out_dims=C, hidden_dims=32)
    decoder.update(kwargs.pop('decoder', {}))
    return ReconstructionLoss(decoder=decoder, **kwargs)


def inputs():
    g = torch.Generator().manual_seed(1)
    entities = torch.randn(B, K, D, generator=g)
    target = torch.randn(B, GRID[0] * GRID[1], C, generator=g)
    return entities, target


def paper_loss(loss: ReconstructionLoss, entities, target) -> torch.Tensor:
    """Eq. 9 as first written: every (entity, position) through the whole MLP."""
    dec = loss.decoder
    pos = dec.position(GRID, entities.device)
    x = F.relu(dec.input_proj(entities)[:, :, None] + (pos @ dec.input_proj.weight.t()))
    for layer in dec.hidden:
        x = F.relu(layer(x))
    out = dec.output_proj(x)
    alpha = out[..., -1].softmax(dim=1)
    recon = torch.einsum('bkn,bknc->bnc', alpha, out[..., :-1])
    return loss.loss_weight * F.mse_loss(recon, target)


def test_ratio_one_is_the_paper_loss_bitwise():
    loss = make_loss()
    entities, target = inputs()
    entities.requires_grad_()
    value, reference = loss(entities, target, GRID), paper_loss(loss, entities, target)
    assert torch.equal(value, reference)
    # and so are its gradients (the decoder's ReLUs run in place on matrices of rows)
    wrt = [entities, *loss.parameters()]
    for ours, theirs in zip(torch.autograd.grad(value, wrt, allow_unused=True),
                            torch.autograd.grad(reference, wrt, allow_unused=True)):
        assert (ours is None and theirs is None) or torch.equal(ours, theirs)
    # a count of N or more also decodes every position
    assert loss.draw_positions(B, 12, 'cpu') is None
    assert make_loss(num_samples=50).draw_positions(B, 12, 'cpu') is None


@pytest.mark.parametrize('kwargs,m', [(dict(sample_ratio=0.25), 3), (dict(num_samples=5), 5),
                                      (dict(sample_ratio=0.01), 1)])
def test_positions_are_distinct_per_sample_and_follow_the_generator(kwargs, m):
    loss = make_loss(**kwargs)
    pos = loss.draw_positions(B, 12, 'cpu', torch.Generator().manual_seed(3))
    assert pos.shape == (B, m)
    assert all(len(set(row.tolist())) == m for row in pos) and int(pos.max()) < 12
    again = loss.draw_positions(B, 12, 'cpu', torch.Generator().manual_seed(3))
    assert torch.equal(pos, again)
    torch.manual_seed(7)
    first = loss.draw_positions(B, 12, 'cpu')
    torch.manual_seed(7)
    assert torch.equal(first, loss.draw_positions(B, 12, 'cpu'))  # the Runner's seed


def test_sampled_loss_and_gradient_are_unbiased():
    """Over many draws the mean estimate equals the full loss and its gradient, within
    4.5 standard errors measured from the draws themselves."""
    full_loss = make_loss()
    sampled = make_loss(sample_ratio=0.25)
    sampled.load_state_dict(full_loss.state_dict())
    entities, target = inputs()
    entities.requires_grad_()
    full = full_loss(entities, target, GRID)
    full_grad, = torch.autograd.grad(full, entities)
    g = torch.Generator().manual_seed(0)
    values, grads = [], []
    for _ in range(2000):
        value = sampled(entities, target, GRID, generator=g)
        grads.append(torch.autograd.grad(value, entities)[0].flatten())
        values.append(value.detach())
    values, grads = torch.stack(values).double(), torch.stack(grads).double()
    z = (values.mean() - full.double()).abs() / (values.std() / len(values)**0.5)
    assert values.std() > 0 and z < 4.5, float(z)
    se = grads.std(0) / len(grads)**0.5
    z_grad = (grads.mean(0) - full_grad.flatten().double()).abs() / se.clamp_min(1e-12)
    assert float(z_grad.max()) < 4.5  # B * K * D = 384 elements: 4.5 sigma for all
    # the same test refuses a biased estimate (always the first M positions)
    first = [F.mse_loss(sampled.decoder(entities, GRID, torch.arange(3).expand(B, 3))[0],
                        target[:, :3]).detach() for _ in range(2)]
    assert (first[0].double() - full.double()).abs() / (values.std() / 2000**0.5) > 4.5


def test_sampled_loss_reaches_the_decoder_and_the_entities():
    loss = make_loss(sample_ratio=0.5)
    entities, target = inputs()
    entities.requires_grad_()
    target.requires_grad_()
    value = loss(entities, target, GRID, generator=torch.Generator().manual_seed(0))
    assert value.shape == ()
    value.backward()
    assert entities.grad.abs().sum() > 0 and target.grad is None
    for name, p in loss.decoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    recon, alpha = loss.decoder(entities, GRID, torch.zeros(B, 6, dtype=torch.long))
    assert recon.shape == (B, 6, C) and alpha.shape == (B, K, 6)


@pytest.mark.parametrize('bad,match', [(dict(sample_ratio=0.), 'sample_ratio'),
                                       (dict(sample_ratio=1.5), 'sample_ratio'),
                                       (dict(num_samples=0), 'num_samples'),
                                       (dict(num_samples=4, sample_ratio=0.5), 'not both')])
def test_bad_sampling_options_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        make_loss(**bad)


@pytest.mark.parametrize('pos', ['learned', 'sine'])
def test_mixing_before_the_output_layer_is_the_same_decoder(pos):
    plain = make_loss(decoder=dict(position_embedding=pos))
    mixed = make_loss(decoder=dict(position_embedding=pos, mix_before_output=True))
    mixed.load_state_dict(plain.state_dict())
    entities, target = inputs()
    entities.requires_grad_()
    for positions in (None, torch.tensor([[0, 5, 11], [2, 3, 7]])):
        r1, a1 = plain.decoder(entities, GRID, positions)
        r2, a2 = mixed.decoder(entities, GRID, positions)
        assert torch.allclose(r1, r2, atol=1e-5) and torch.allclose(a1, a2, atol=1e-6)
    g1, = torch.autograd.grad(plain(entities, target, GRID), entities)
    g2, = torch.autograd.grad(mixed(entities, target, GRID), entities)
    assert torch.allclose(g1, g2, atol=1e-6)


def test_segmentor_trains_with_sampled_reconstruction():
    model = build_tiny(**{'recon_loss.sample_ratio': 0.25,
                          'recon_loss.decoder.mix_before_output': True})
    data = model.data_preprocessor(make_batch(4), training=True)
    torch.manual_seed(0)
    first = model.loss(data['inputs'], data['data_samples'])['loss_recon']
    torch.manual_seed(0)
    second = model.loss(data['inputs'], data['data_samples'])['loss_recon']
    assert torch.equal(first, second)  # same seed, same positions
    first.backward()
    assert model.recon_loss.decoder.output_proj.weight.grad.abs().sum() > 0
