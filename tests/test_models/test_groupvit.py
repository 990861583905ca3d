"""GroupViT: the grouping ViT, its contrastive loss and its referring inference."""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sgseg.models.backbones.grouping_vit import (GroupingViT, chain_assignments,
                                                 straight_through_assign)
from sgseg.models.losses import ImageTextContrastiveLoss
from sgseg.registry import MODELS
from sgseg.utils import register_all_modules
from .tiny import IMG, TOKENIZER, make_batch

ROOT = Path(__file__).resolve().parents[2]
TINY_BACKBONE = dict(type='GroupingViT', model_name='vit_tiny_patch16_224', img_size=IMG,
                     patch_size=8, embed_dim=24, num_heads=2, depths=(1, 1, 1),
                     num_group_tokens=(6, 3), num_output_groups=(5, 3), drop_path_rate=0.)
TINY_GROUPVIT = dict(
    type='GroupViT',
    embed_dims=32,
    proj_hidden_dims=32,
    data_preprocessor=dict(type='RefSegDataPreProcessor', tokenizer=TOKENIZER, max_length=16),
    backbone=TINY_BACKBONE,
    text_encoder=dict(type='HFTextEncoder',
                      config=dict(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32)),
    test_cfg=dict(seed=0))


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    register_all_modules()
    yield
    torch.set_num_threads(threads)


def build(**test_cfg):
    cfg = copy.deepcopy(TINY_GROUPVIT)
    cfg['test_cfg'].update(test_cfg)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def backbone() -> GroupingViT:
    cfg = copy.deepcopy(TINY_BACKBONE)
    cfg.pop('type')
    torch.manual_seed(0)
    return GroupingViT(**cfg)


def test_backbone_shapes_and_one_hot_assignments():
    model = backbone()
    out = model(torch.randn(2, 3, IMG, IMG))
    assert out.groups.shape == (2, 3, 24) and out.grid_size == (4, 4)
    assert [h.shape for h in out.hard] == [(2, 16, 5), (2, 5, 3)]
    for hard, soft in zip(out.hard, out.soft):
        assert torch.equal(hard.detach().sum(-1), torch.ones(hard.shape[:-1]))
        assert set(hard.detach().unique().tolist()) <= {0., 1.}
        assert torch.allclose(soft.sum(-1), torch.ones(soft.shape[:-1]))
    chained = chain_assignments(out.hard).detach()
    first, second = out.hard[0].argmax(-1), out.hard[1].argmax(-1)
    assert torch.equal(chained.argmax(-1), torch.gather(second, 1, first))
    # another input size: the position embedding is resized, the grid follows
    model.eval()
    assert model(torch.randn(1, 3, 48, 40)).hard[0].shape == (1, 30, 5)


def test_straight_through_assignment_is_one_hot_forward_and_soft_backward():
    logits = torch.randn(4, 7, 5, requires_grad=True)
    weights = torch.randn(4, 7, 5)
    gen = torch.Generator().manual_seed(0)
    hard, soft = straight_through_assign(logits, gumbel=True, tau=0.5, generator=gen)
    assert torch.equal(hard.detach().sum(-1), torch.ones(4, 7))
    assert set(hard.detach().unique().tolist()) == {0., 1.}
    (hard * weights).sum().backward()
    # the gradient is the relaxed (noisy, tempered) softmax's: recompute it
    noisy_grad = logits.grad.clone()
    logits.grad = None
    gen = torch.Generator().manual_seed(0)
    uniform = torch.rand(logits.shape, generator=gen)
    noise = -torch.log(-torch.log(uniform.clamp(torch.finfo(torch.float32).tiny, 1 - 1e-7)))
    (((logits + noise) / 0.5).softmax(-1) * weights).sum().backward()
    assert torch.allclose(noisy_grad, logits.grad, atol=1e-6)
    assert noisy_grad.abs().sum() > 0
    # the soft map is the noiseless softmax; without noise the hard map is its arg-max
    assert torch.allclose(soft, logits.softmax(-1))
    hard_eval, _ = straight_through_assign(logits)
    assert torch.equal(hard_eval.detach().argmax(-1), logits.argmax(-1))


def test_loss_reads_no_mask_and_reaches_every_parameter():
    model = build()
    batch = make_batch(4, image_ids=[0, 0, 1, 2])
    assert all('gt_sem_seg' not in ds for ds in batch['data_samples'])
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert set(losses) == {'loss_itc'} and torch.isfinite(losses['loss_itc'])
    losses['loss_itc'].backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and
               (p.grad is None or not torch.any(p.grad != 0))]
    assert missing == []


def looped_loss(image, text, ids, scale):
    """The contrastive loss one row at a time, positives = same image id."""
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    total = 0.
    for queries, keys in ((image, text), (text, image)):
        for i in range(len(ids)):
            logits = [scale * torch.dot(queries[i], keys[j]) for j in range(len(ids))]
            log_z = torch.logsumexp(torch.stack(logits), 0)
            positives = [j for j in range(len(ids)) if ids[j] == ids[i]]
            total = total - sum(logits[j] - log_z for j in positives) / len(positives)
    return total / (2 * len(ids))


def test_contrastive_loss_batched_equals_looped_and_same_image_is_positive():
    torch.manual_seed(0)
    image, text = torch.randn(6, 8), torch.randn(6, 8)
    ids = torch.tensor([3, 3, 1, 2, 2, 2])
    loss = ImageTextContrastiveLoss(init_temperature=0.1)
    assert torch.allclose(loss(image, text, ids), looped_loss(image, text, ids, 10.),
                          atol=1e-5)
    # two processes of 3 samples each, every sample gathered: their mean is the loss
    halves = [loss(image, text, ids, offset, 3) for offset in (0, 3)]
    assert torch.allclose((halves[0] + halves[1]) / 2, loss(image, text, ids), atol=1e-6)
    # distinct images: CLIP's loss, one positive per row
    distinct = torch.arange(6)
    logits = 10. * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()
    clip = (F.cross_entropy(logits, distinct) + F.cross_entropy(logits.t(), distinct)) / 2
    assert torch.allclose(loss(image, text, distinct), clip, atol=1e-6)


def test_training_noise_repeats_with_the_seed():
    model = build()
    data = model.data_preprocessor(make_batch(4), training=True)

    def loss_at(seed):
        torch.manual_seed(seed)
        return model.loss(**data)['loss_itc'].item()

    assert loss_at(1) == loss_at(1)
    assert loss_at(1) != loss_at(2)  # the Gumbel noise differs


def test_prediction_keeps_the_groups_closer_to_the_sentence():
    model = build().eval()
    batch = make_batch(3, ori_shape=(IMG, IMG))
    data = model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        out = model(**data, mode='predict')
        again = model(**model.data_preprocessor(batch, training=False), mode='predict')
        text = model.encode_text(data['inputs'])
        (groups, _), _ = model.encode_image(data['inputs']['imgs'])
        background = model.encode_background(text.device)
    for p, ds in enumerate(out):
        assert set(ds.metainfo['map_names']) == {'group_map', 'group_relevance',
                                                 'group_similarity'}
        assert ds.group_map.shape == (4, 4) and ds.group_relevance.shape == (3, )
        assert torch.equal(ds.seg_logits.data, again[p].seg_logits.data)
        g = F.normalize(groups[p], dim=-1)
        closer = g @ F.normalize(text[p], dim=0) > g @ F.normalize(background[0], dim=0)
        assert torch.equal(ds.group_relevance > 0.5, closer)
        expected = closer[ds.group_map]  # (4, 4): each patch's group
        pred = ds.pred_sem_seg.data[0].bool()
        assert pred.shape == (IMG, IMG)
        # at the patch centres the resized map is the patch's own value
        assert torch.equal(pred[4::8, 4::8], expected)


def test_soft_assignment_and_options():
    model = build(assignment='soft', background_text='nothing at all').eval()
    data = model.data_preprocessor(make_batch(2), training=False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    for ds in out:
        assert 0 <= ds.seg_logits.data.min() and ds.seg_logits.data.max() <= 1
    with pytest.raises(ValueError, match='assignment'):
        build(assignment='argmax')
    with pytest.raises(ValueError, match='depths'):
        MODELS.build(dict(TINY_BACKBONE, depths=(1, 1)))


def test_synthetic_config_trains_and_evaluates(tmp_path):
    """configs/groupvit_vittiny_synthetic.py, its size keys shrunk, through the Runner."""
    from mmengine.runner import Runner

    from sgseg.datasets.synthetic import make_synthetic_refer
    from sgseg.utils import load_tool_config, prepare_train_config

    make_synthetic_refer(tmp_path / 'data', num_train_images=12, num_val_images=3,
                         num_test_images=1, image_size=32, seed=0)
    options = {
        'data_root': str(tmp_path / 'data'),
        'model.backbone': dict(TINY_BACKBONE, _delete_=True),
        'model.embed_dims': 32,
        'model.proj_hidden_dims': 32,
        'train_cfg.max_iters': 3,
        'train_cfg.val_interval': 3,
        'default_hooks.checkpoint': None,
        'default_hooks.logger.interval': 1,
        'default_hooks.visualization.draw': False,
    }
    for loader in ('train_dataloader', 'val_dataloader'):
        options[f'{loader}.batch_size'] = 4
        options[f'{loader}.dataset.data_root'] = str(tmp_path / 'data')
    cfg = load_tool_config(str(ROOT / 'configs' / 'groupvit_vittiny_synthetic.py'), 'none',
                           options, str(tmp_path / 'work'))
    prepare_train_config(cfg, 'none', False, options)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for step in cfg[loader].dataset.pipeline:
            if step.type == 'Resize':
                step.scale = (IMG, IMG)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3
    metrics = runner.val()
    for key in ('mIoU', 'cIoU', 'PointM'):
        assert 0 <= metrics[key] <= 100, (key, metrics)


def test_pictures_draw_the_group_map_one_colour_per_group(tmp_path):
    import cv2
    import numpy as np

    from sgseg.engine.hooks.visualization_hook import render_sample
    from sgseg.visualization import label_overlay

    labels = np.array([[0, 0, 2], [1, 2, 2]])
    drawn = label_overlay(np.zeros((20, 30, 3), np.uint8), labels, alpha=1.)
    colors = {tuple(drawn[5 + 10 * r, 5 + 10 * c]) for r in range(2) for c in range(3)}
    assert len(colors) == 3  # one colour per group, the same for each of its patches
    assert tuple(drawn[5, 5]) == tuple(drawn[5, 15]) != tuple(drawn[15, 5])

    model = build().eval()
    image = tmp_path / 'img.png'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (30, 45, 3), np.uint8))
    batch = make_batch(1, with_gt=True)
    batch['data_samples'][0].set_metainfo(dict(img_path=str(image)))
    with torch.no_grad():
        ds = model.test_step(batch)[0]
    # the mask panel and the group map (per-group values are no patch map)
    assert render_sample(ds, topk=3).shape[1] == 2 * render_sample(ds, topk=0).shape[1]
