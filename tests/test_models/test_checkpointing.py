"""Activation checkpointing of the ViT and of the entity-discovery loop: same gradients,
fewer saved activations."""
import pytest
import torch

from tests.test_models.tiny import build_tiny, make_batch


def build(checkpointing: bool, resized: bool):
    overrides = {'backbone.grad_checkpointing': checkpointing,
                 'backbone.drop_path_rate': 0.3,  # randomness inside the checkpointed blocks
                 'backbone.depth': 2,
                 'entity_discovery.grad_checkpointing': checkpointing,
                 'entity_discovery.dropout': 0.2}
    if resized:
        overrides['backbone.build_img_size'] = 48
    torch.manual_seed(0)
    return build_tiny(**overrides)


def loss_and_saved(model, data):
    """The summed loss (from a fixed seed) and the elements saved for backward outside
    the checkpointed regions."""
    saved = [0]

    def pack(t):
        saved[0] += t.numel()
        return t

    torch.manual_seed(1)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        losses = model.loss(data['inputs'], data['data_samples'])
    return sum(losses.values()), saved[0]


@pytest.mark.parametrize('resized', [False, True])
def test_checkpointing_gives_the_same_gradients(resized):
    plain, ckpt = build(False, resized), build(True, resized)
    ckpt.load_state_dict(plain.state_dict())
    plain.train(), ckpt.train()
    data = plain.data_preprocessor(make_batch(4), training=True)
    loss_plain, saved_plain = loss_and_saved(plain, data)
    loss_ckpt, saved_ckpt = loss_and_saved(ckpt, data)
    assert torch.equal(loss_plain, loss_ckpt)
    assert saved_ckpt < 0.8 * saved_plain, (saved_ckpt, saved_plain)
    loss_plain.backward()
    loss_ckpt.backward()
    grads = dict(ckpt.named_parameters())
    checked = 0
    for name, p in plain.named_parameters():
        if p.grad is None:
            assert grads[name].grad is None, name
            continue
        assert torch.allclose(p.grad, grads[name].grad, rtol=1e-4, atol=1e-7), name
        checked += 1
    assert checked > 20
    # the checkpointed regions do hold random state: another seed changes the loss
    torch.manual_seed(2)
    other = sum(ckpt.loss(data['inputs'], data['data_samples']).values())
    assert not torch.equal(other, loss_ckpt)


def saved_elements(fn) -> int:
    saved = [0]

    def pack(t):
        saved[0] += t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return saved[0]


@pytest.mark.parametrize('resized', [False, True])
def test_each_part_keeps_fewer_activations(resized):
    """Each option acts on its own part: the ViT's blocks, the discovery loop."""
    plain, ckpt = build(False, resized), build(True, resized)
    imgs = torch.randn(2, 3, 32, 32)
    vit = [saved_elements(lambda: m.backbone(imgs)) for m in (plain, ckpt)]
    assert vit[1] < 0.5 * vit[0], vit
    feats = torch.randn(2, 16, 32, requires_grad=True)
    loop = [saved_elements(lambda: m.entity_discovery(feats, (4, 4))) for m in (plain, ckpt)]
    assert loop[1] < 0.5 * loop[0], loop


def test_checkpointing_is_off_without_gradients():
    model = build(True, False).eval()
    data = model.data_preprocessor(make_batch(2), training=False)
    with torch.no_grad():
        scores = model._forward(data['inputs'], data['data_samples'])
    assert scores.shape == (2, 4, 4)
