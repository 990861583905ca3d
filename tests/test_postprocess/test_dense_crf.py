import builtins

import numpy as np
import pytest

from mmengine.config import Config

from sgseg.postprocess import DenseCRF, crf_settings


def noisy_scene(seed=0):
    """A sharp-edged square on a textured background and a blurry, noisy score map."""
    rng = np.random.default_rng(seed)
    H, W = 80, 100
    gt = np.zeros((H, W), bool)
    gt[20:60, 30:75] = True
    image = np.where(gt[..., None], [200, 40, 40], [40, 90, 200]).astype(np.float32)
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:H, :W]
    blob = np.exp(-(((yy - 40) / 26.)**2 + ((xx - 52) / 30.)**2))  # wider than the square
    score = np.clip(blob + rng.normal(0, 0.15, blob.shape), 0, 1)
    return image, score, gt


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_crf_raises_iou_keeps_shape_and_is_deterministic():
    image, score, gt = noisy_scene()
    crf = DenseCRF()
    refined = crf(image, score)
    assert refined.shape == score.shape and refined.dtype == np.float32
    assert iou(refined >= 0.5, gt) > iou(score >= 0.5, gt) + 0.05
    assert np.array_equal(refined, crf(image, score))


def test_crf_size_mismatch_is_clear():
    image, score, _ = noisy_scene()
    with pytest.raises(ValueError, match='differ in size'):
        DenseCRF()(image[:10], score)


def test_missing_pydensecrf_gives_install_hint(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith('pydensecrf'):
            raise ImportError('No module named pydensecrf')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', fake_import)
    with pytest.raises(ImportError, match='pip install pydensecrf2'):
        DenseCRF()


def test_downscaled_refinement_matches_size_and_still_helps():
    image, score, gt = noisy_scene()
    image = np.repeat(np.repeat(image, 4, 0), 4, 1)
    score = np.repeat(np.repeat(score, 4, 0), 4, 1)
    gt = np.repeat(np.repeat(gt, 4, 0), 4, 1)
    refined = DenseCRF(max_side=100)(image, score)
    assert refined.shape == score.shape
    assert iou(refined >= 0.5, gt) > iou(score >= 0.5, gt) + 0.05


def test_crf_settings_come_from_the_config_s_dense_crf_key():
    assert crf_settings(None) == dict(type='DenseCRF')
    assert crf_settings(Config(dict(model=dict()))) == dict(type='DenseCRF')
    own = dict(type='DenseCRF', bilateral_srgb=30.)
    cfg = Config(dict(dense_crf=own))
    assert crf_settings(cfg) == own
    crf_settings(cfg)['bilateral_srgb'] = 1.  # a copy: the config keeps its settings
    assert cfg.dense_crf.bilateral_srgb == 30.
    for bad in (True, dict(bilateral_srgb=30.)):
        with pytest.raises(ValueError, match='dense_crf must be a post-processor config'):
            crf_settings(Config(dict(dense_crf=bad)))
