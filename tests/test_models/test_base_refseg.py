"""BaseRefSegmentor: a method written only as loss / encode_image / score_pairs gets
prediction, grouping, the inferencer, the pictures and the scheme evaluation."""
import copy

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sgseg.apis import RefSegInferencer, evaluate_schemes
from sgseg.engine.hooks.visualization_hook import render_sample
from sgseg.models.segmentors import BaseRefSegmentor
from sgseg.registry import MODELS
from sgseg.utils import register_all_modules
from tests.test_apis.test_inferencer import CONFIG
from tests.test_models.tiny import IMG, TINY_MODEL, make_batch


class PatchCosine(BaseRefSegmentor):
    """The smallest method: cosine of each projected patch with the sentence."""

    def __init__(self, embed_dims: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.vis_proj = nn.Linear(self.backbone.embed_dims, embed_dims)
        self.text_proj = nn.Linear(self.text_encoder.embed_dims, embed_dims)

    def loss(self, inputs, data_samples):
        return dict(loss=self.encode_text(inputs).sum() * 0)

    def encode_image(self, imgs):
        vis, grid = self.extract_feat(imgs)
        return self.vis_proj(vis), grid

    def score_pairs(self, feats, grid, text, owner, generators):
        sim = torch.einsum('pnd,pd->pn', F.normalize(feats[owner], dim=-1),
                           F.normalize(text, dim=-1)).reshape(-1, *grid)
        return sim, dict(similarity=sim, weights=text)


def toy_cfg() -> dict:
    register_all_modules()
    MODELS.register_module(module=PatchCosine, force=True)
    keep = ('data_preprocessor', 'backbone', 'text_encoder', 'test_cfg')
    return dict(type='PatchCosine', **{k: copy.deepcopy(TINY_MODEL[k]) for k in keep})


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return MODELS.build(toy_cfg()).eval()


def test_predict_attaches_every_map_to_its_sentence(model):
    batch = make_batch(3, with_gt=True)
    with torch.no_grad():
        out = model.test_step(batch)
    grid = (IMG // 8, IMG // 8)
    for ds in out:
        assert ds.metainfo['map_names'] == ('similarity', 'weights')
        assert ds.metainfo['grid_size'] == grid
        assert ds.similarity.shape == grid and ds.weights.shape == (8, )
        assert ds.seg_logits.data.shape == (1, 30, 45)
        assert ds.seg_logits.data.min() == 0 and ds.seg_logits.data.max() == 1
        mask = ds.pred_sem_seg.data[0].bool()
        assert torch.equal(mask, ds.seg_logits.data[0] >= 0.5)
    assert not torch.equal(out[0].similarity, out[1].similarity)


def test_pictures_draw_the_patch_maps(model, tmp_path):
    image = tmp_path / 'img.png'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (30, 45, 3), np.uint8))
    batch = make_batch(1, with_gt=True)
    batch['data_samples'][0].set_metainfo(dict(img_path=str(image)))
    with torch.no_grad():
        ds = model.test_step(batch)[0]
    with_map = render_sample(ds, topk=3)
    alone = render_sample(ds, topk=0)
    # the mask panel and one heat map (the (P, D) weights are no patch map)
    assert with_map.shape[1] == 2 * alone.shape[1]


def test_inferencer_returns_the_maps(model, tmp_path):
    config = tmp_path / 'toy.py'
    config.write_text(CONFIG.format(model=toy_cfg(), img=IMG))
    checkpoint = tmp_path / 'toy.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    image = np.random.default_rng(1).integers(0, 256, (30, 45, 3), np.uint8)
    preds = RefSegInferencer(str(config), str(checkpoint))(image, ['a red square', 'a star'])
    assert [p.text for p in preds] == ['a red square', 'a star']
    for p in preds:
        assert p.similarity.shape == p.grid_size == (4, 4) and p.score.shape == (30, 45)
        assert set(p.maps) == {'similarity', 'weights'}
    with pytest.raises(AttributeError, match='attn_slot'):
        preds[0].attn_slot


def test_scheme_evaluation_scores_the_own_inference(model):
    batches = [make_batch(2, with_gt=True), make_batch(2, with_gt=True)]

    class Loader(list):
        dataset = [None] * 4

    results = evaluate_schemes(model, Loader(batches))
    assert set(results) == {'own', 'whole_image', 'centre_ellipse'}
    assert results['own']['n'] == 4
    with pytest.raises(ValueError, match='no inference schemes'):
        evaluate_schemes(model, Loader(batches), schemes=('fuse', ))
