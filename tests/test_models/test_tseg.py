import copy

import pytest
import torch
import torch.nn.functional as F

from sgseg.models.losses.patch_assignment_loss import PatchAssignmentLoss, assignment_pool
from sgseg.registry import MODELS
from sgseg.utils import register_all_modules
from .tiny import IMG, TINY_MODEL, make_batch

SHARED = ('data_preprocessor', 'backbone', 'text_encoder', 'embed_dims')


def build_tseg(**overrides):
    """A tiny TSEG on the tiny ShatterAndGather's backbone and text encoder."""
    register_all_modules()
    cfg = copy.deepcopy({k: TINY_MODEL[k] for k in SHARED})
    cfg.update(type='TSEG', loss=dict(type='PatchAssignmentLoss'), **overrides)
    return MODELS.build(cfg)


def looped_pool(sim, temperature, r):
    """assignment_pool written out one (image, sentence) pair at a time."""
    B, N, P = sim.shape
    out = torch.empty(B, P, dtype=sim.dtype)
    for b in range(B):
        for j in range(P):
            assign = torch.stack([torch.softmax(sim[b, n] / temperature, 0)[j]
                                  for n in range(N)])
            out[b, j] = torch.log((assign * torch.exp(r * sim[b, :, j])).sum()
                                  / assign.sum()) / r
    return out


def test_pool_matches_its_formula_and_its_limits():
    sim = torch.rand(3, 5, 4, dtype=torch.float64) * 2 - 1
    assert torch.allclose(assignment_pool(sim, 0.2, 3.), looped_pool(sim, 0.2, 3.))
    assign = torch.softmax(sim / 0.2, dim=-1)
    mean = (assign * sim).sum(1) / assign.sum(1)
    assert torch.allclose(assignment_pool(sim, 0.2, 1e-6), mean, atol=1e-5)
    # a very sharp pooling tends to the best patch (its assignment weight costs ~log/r)
    assert torch.allclose(assignment_pool(sim, 0.2, 1e4), sim.amax(1), atol=1e-2)


def test_same_image_sentences_are_positives():
    loss = PatchAssignmentLoss(lse_r=5., init_scale=2., init_bias=-1.)
    sim = torch.rand(3, 6, 3) * 2 - 1
    ids = torch.tensor([7, 7, 9])
    logits = assignment_pool(sim, 0.1, 5.) * 2. - 1.
    labels = torch.tensor([[1., 1., 0.], [1., 1., 0.], [0., 0., 1.]])
    expected = F.binary_cross_entropy_with_logits(logits, labels, reduction='sum') / 3
    assert torch.allclose(loss(sim, ids, ids), expected)
    # with the identity as labels (distinct ids) the loss differs
    assert not torch.allclose(loss(sim, torch.arange(3), torch.arange(3)), expected)


def test_batched_loss_equals_the_loss_looped_over_images():
    loss = PatchAssignmentLoss()
    sim = torch.rand(4, 6, 4) * 2 - 1
    ids = torch.tensor([0, 0, 1, 2])
    looped = sum(loss(sim[b:b + 1], ids[b:b + 1], ids) for b in range(4)) / 4
    assert torch.allclose(loss(sim, ids, ids), looped)


def test_bad_loss_settings_are_named():
    with pytest.raises(ValueError, match='assign_temperature'):
        PatchAssignmentLoss(assign_temperature=0.)


def test_loss_reads_no_ground_truth_and_reaches_every_parameter():
    model = build_tseg()
    batch = make_batch(4, with_gt=False, image_ids=[0, 0, 1, 2])
    assert all('gt_sem_seg' not in ds for ds in batch['data_samples'])
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert set(losses) == {'loss_tseg'} and torch.isfinite(losses['loss_tseg'])
    losses['loss_tseg'].backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and
               (p.grad is None or not torch.any(p.grad != 0))]
    assert missing == []


def test_seeded_training_loss_repeats():
    def loss_of_fresh_model():
        torch.manual_seed(3)
        model = build_tseg()
        data = model.data_preprocessor(make_batch(4, image_ids=[0, 0, 1, 2]), training=True)
        return model(**data, mode='loss')['loss_tseg']

    assert torch.equal(loss_of_fresh_model(), loss_of_fresh_model())


def test_predict_thresholds_the_similarity_map_at_the_original_size():
    model = build_tseg().eval()
    data = model.data_preprocessor(make_batch(3, ori_shape=(30, 45)), training=False)
    with torch.no_grad():
        grid = model(**data, mode='tensor')
        out = model(**data, mode='predict')
    h = IMG // 8
    assert grid.shape == (3, h, h)
    for p, ds in enumerate(out):
        score, mask = ds.seg_logits.data, ds.pred_sem_seg.data
        assert score.shape == (1, 30, 45) and mask.shape == (1, 30, 45)
        assert score.min() == 0 and torch.isclose(score.max(), torch.tensor(1.))
        assert torch.equal(mask, (score >= 0.5).to(torch.uint8))
        # the similarity map is a cosine, and the best-scoring patch is the map's top
        assert grid[p].abs().max() <= 1 + 1e-6
        top = divmod(int(grid[p].argmax()), h)
        y = int((top[0] + 0.5) * 30 / h)
        x = int((top[1] + 0.5) * 45 / h)
        assert score[0, y, x] > 0.9
