"""MaskCLIP: the value-path readout, CLIP's contrastive loss, training through the
Runner, and a CLIP checkpoint loaded by hub id from the Hugging Face cache offline."""
import copy
import json
import string
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import constants
from mmengine.config import Config
from mmengine.runner import Runner
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

from sgseg.apis import RefSegInferencer, evaluate_schemes
from sgseg.datasets.synthetic import make_synthetic_refer
from sgseg.registry import MODELS
from sgseg.utils import register_all_modules
from tests.test_apis.test_inferencer import CONFIG
from tests.test_models.tiny import IMG, TINY_MODEL, make_batch
from tests.test_utils.test_hub_paths import snapshot

ROOT = Path(__file__).resolve().parents[2]
TINY_MASKCLIP = dict(
    type='MaskCLIP',
    embed_dims=32,
    **{k: copy.deepcopy(TINY_MODEL[k]) for k in ('data_preprocessor', 'backbone',
                                                 'text_encoder', 'test_cfg')})
CLIP_ID = 'openai/clip-vit-base-patch16'


def build(**overrides) -> torch.nn.Module:
    register_all_modules()
    return MODELS.build(dict(copy.deepcopy(TINY_MASKCLIP), **overrides))


def test_shapes_and_the_similarity_map():
    torch.manual_seed(0)
    model = build()
    data = model.data_preprocessor(make_batch(4, image_ids=[0, 0, 1, 2]), training=True)
    losses = model.loss(**data)
    assert set(losses) == {'loss_itc'} and losses['loss_itc'].ndim == 0
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(make_batch(2, with_gt=True), training=False)
        out = model.predict(**data)
        feats, grid = model.encode_image(data['inputs']['imgs'])
        text = model.encode_text(data['inputs'])
    assert feats.shape == (2, 16, 32) and grid == (4, 4)
    for i, ds in enumerate(out):
        assert ds.metainfo['map_names'] == ('similarity', )
        expected = F.cosine_similarity(feats[i], text[i][None], dim=-1).reshape(4, 4)
        torch.testing.assert_close(ds.similarity, expected)
        assert ds.pred_sem_seg.data.shape == (1, 30, 45)


def test_value_path_skips_the_last_query_key_attention():
    torch.manual_seed(0)
    model = build()
    vit = model.backbone.vit
    imgs = torch.randn(2, 3, IMG, IMG)
    dense, grid = model.backbone.forward_value_path(imgs)
    # by hand: the last block's value rows of qkv, then the output projection
    x = vit.norm_pre(vit._pos_embed(vit.patch_embed(imgs)))
    for block in vit.blocks[:-1]:
        x = block(x)
    last = vit.blocks[-1]
    C = x.shape[-1]
    value = F.linear(last.norm1(x), last.attn.qkv.weight[2 * C:], last.attn.qkv.bias[2 * C:])
    expected = vit.norm(last.attn.proj(value))[:, 1:]
    torch.testing.assert_close(dense, expected)
    assert grid == (4, 4)
    # the class token is read from the ordinary forward
    torch.testing.assert_close(model.backbone.forward_cls(imgs), vit.forward_features(imgs)[:, 0])


def test_every_trainable_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = build()
    data = model.data_preprocessor(make_batch(4), training=True)
    model.loss(**data)['loss_itc'].backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert model.contrastive_loss.logit_scale.grad != 0


@pytest.mark.parametrize('mask_same_image', [False, True])
def test_batched_loss_equals_the_looped_definition(mask_same_image):
    register_all_modules()
    loss = MODELS.build(dict(type='CLIPContrastiveLoss', init_temperature=0.1,
                             mask_same_image=mask_same_image))
    torch.manual_seed(0)
    image, text = torch.randn(5, 8), torch.randn(5, 8)
    ids = torch.tensor([7, 7, 3, 4, 3])
    cos = F.normalize(text, dim=-1) @ F.normalize(image, dim=-1).t() * 10
    t2i, i2t = [], []
    for j in range(5):
        keep = [i for i in range(5) if i == j or not (mask_same_image and ids[i] == ids[j])]
        t2i.append(-torch.log_softmax(cos[j, keep], 0)[keep.index(j)])
        i2t.append(-torch.log_softmax(cos[keep, j], 0)[keep.index(j)])
    looped = 0.5 * (torch.stack(t2i).mean() + torch.stack(i2t).mean())
    torch.testing.assert_close(loss(image, text, ids), looped)
    unmasked = MODELS.build(dict(type='CLIPContrastiveLoss', init_temperature=0.1))
    assert (loss(image, text, ids) < unmasked(image, text, ids)) == mask_same_image


def test_seeded_runs_repeat():
    def run():
        torch.manual_seed(3)
        model = build()
        data = model.data_preprocessor(make_batch(3), training=True)
        loss = model.loss(**data)['loss_itc']
        model.eval()
        with torch.no_grad():
            out = model.predict(**model.data_preprocessor(make_batch(3), training=False))
        return loss, torch.stack([ds.seg_logits.data for ds in out])

    (loss_a, pred_a), (loss_b, pred_b) = run(), run()
    assert torch.equal(loss_a, loss_b) and torch.equal(pred_a, pred_b)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match='init_temperature'):
        build(contrastive_loss=dict(type='CLIPContrastiveLoss', init_temperature=0.001))
    # MaskCLIP has no inference schemes
    with pytest.raises(ValueError, match='test_cfg.inference_scheme is not a known option'):
        build(test_cfg=dict(inference_scheme='fuse'))


def test_the_synthetic_config_trains_and_tests(tmp_path):
    data = tmp_path / 'data'
    make_synthetic_refer(data, num_train_images=8, num_val_images=2, num_test_images=1,
                         image_size=32, seed=0)
    cfg = Config.fromfile(str(ROOT / 'configs' / 'maskclip_vittiny_synthetic.py'))
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'work'),
        'model.embed_dims': 32,
        'model.backbone.img_size': 32,
        'model.backbone.embed_dim': 24,
        'model.backbone.depth': 1,
        'model.backbone.num_heads': 2,
        'train_dataloader.batch_size': 4,
        'val_dataloader.batch_size': 4,
        'train_cfg.max_iters': 3,
        'train_cfg.val_interval': 3,
        'default_hooks.checkpoint.interval': 3,
        'default_hooks.visualization.draw': False,
    })
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(data)
        for step in cfg[loader].dataset.pipeline:
            if step['type'] == 'Resize':
                step['scale'] = (32, 32)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=3)]
    runner = Runner.from_cfg(cfg)
    before = copy.deepcopy(runner.model.vis_proj.weight.detach())
    runner.train()
    assert not torch.equal(before, runner.model.vis_proj.weight)
    metrics = runner.test()
    assert 0 <= metrics['mIoU'] <= 100 and metrics['n'] > 0
    # eval_schemes scores MaskCLIP's own inference: the test's numbers, and the baselines
    table = evaluate_schemes(runner.model, runner.test_dataloader)
    assert set(table) == {'own', 'whole_image', 'centre_ellipse'}
    assert abs(table['own']['mIoU'] - metrics['mIoU']) < 1e-6


def write_tiny_clip(folder: Path) -> CLIPModel:
    """A random CLIPModel (2-layer vision tower at 32 px) and a letter-level CLIP
    tokenizer, saved as a Hugging Face folder."""
    vocab = {}
    for c in string.ascii_lowercase + string.digits + ".,'-":
        vocab[c] = len(vocab)
        vocab[c + '</w>'] = len(vocab)
    for special in ('<|startoftext|>', '<|endoftext|>'):
        vocab[special] = len(vocab)
    (folder / 'vocab.json').write_text(json.dumps(vocab))
    (folder / 'merges.txt').write_text('#version: 0.2\n')
    eos = vocab['<|endoftext|>']
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=64, bos_token_id=eos - 1, eos_token_id=eos,
                         pad_token_id=eos),
        vision_config=dict(hidden_size=24, intermediate_size=48, num_hidden_layers=2,
                           num_attention_heads=2, image_size=IMG, patch_size=8),
        projection_dim=12)
    torch.manual_seed(0)
    clip = CLIPModel(config).eval()
    clip.save_pretrained(folder)
    CLIPTokenizer(str(folder / 'vocab.json'), str(folder / 'merges.txt')).save_pretrained(folder)
    return clip


@pytest.fixture
def clip_in_hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / 'hub'
    clip = write_tiny_clip(snapshot(cache, CLIP_ID))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(cache))
    return clip


def test_a_clip_checkpoint_by_hub_id_reads_zero_shot(clip_in_hub_cache, tmp_path):
    clip = clip_in_hub_cache
    model_cfg = dict(
        type='MaskCLIP', embed_dims=12, text_pooling='last',
        data_preprocessor=dict(type='RefSegDataPreProcessor', tokenizer=CLIP_ID,
                               max_length=64, mean=[122.8, 116.5, 104.0],
                               std=[68.5, 66.6, 70.3], bgr_to_rgb=True),
        backbone=dict(type='HFCLIPVision', path=CLIP_ID),
        text_encoder=dict(type='HFCLIPText', path=CLIP_ID),
        test_cfg=dict(seed=0))
    register_all_modules()
    model = MODELS.build(model_cfg).eval()
    # the towers, their projections and CLIP's pooling are CLIP's own
    imgs = torch.randn(2, 3, IMG, IMG)
    tokens = model.data_preprocessor.tokenize(['a red cat', 'the dog on the left'], ['a', 'b'])
    with torch.no_grad():
        torch.testing.assert_close(model.embed_image(imgs),
                                   clip.visual_projection(clip.vision_model(imgs).pooler_output))
        reference = clip.text_model(**tokens).pooler_output
        torch.testing.assert_close(model.encode_text(tokens), clip.text_projection(reference))
        dense, grid = model.encode_image(imgs)
    assert dense.shape == (2, 16, 12) and grid == (4, 4)

    # zero-shot readout end to end, from a checkpoint-free config
    config = tmp_path / 'clip.py'
    config.write_text(CONFIG.format(model=model_cfg, img=IMG))
    image = tmp_path / 'img.png'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (30, 45, 3), np.uint8))
    preds = RefSegInferencer(str(config))(str(image), ['a red square', 'the left star'])
    for pred in preds:
        assert pred.score.shape == pred.mask.shape == (30, 45)
        assert pred.similarity.shape == (4, 4)
        assert pred.score.min() == 0 and pred.score.max() == 1
    assert not np.array_equal(preds[0].similarity, preds[1].similarity)
