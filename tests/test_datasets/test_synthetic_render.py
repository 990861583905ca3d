"""The synthetic renderer: every kind and style draws what its mask says, the palette stays
apart, held-out styles stay out of the seen splits."""
import itertools
import json
import pickle

import cv2
import numpy as np
import pytest

from sgseg.datasets import synthetic
from sgseg.datasets.synthetic import render
from sgseg.datasets.synthetic.attributes import (BACKGROUNDS, COLOURS, FILLS, HELDOUT_STYLES,
                                                 KINDS, SceneStyle, ShapeInfo)

SIZE = 96


def test_palette_colours_stay_apart():
    for (a, ca), (b, cb) in itertools.combinations(COLOURS.items(), 2):
        assert np.linalg.norm(np.subtract(ca, cb)) >= 80, (a, b)
    # jitter moves a colour by at most 17, so two drawn colours stay >= 46 apart
    assert np.sqrt(3) * render._COLOUR_JITTER <= 17.5


@pytest.mark.parametrize('kind', KINDS)
def test_every_kind_draws_inside_the_image_what_its_mask_says(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    assert kind in render._KIND_POSE
    for fill, antialias in itertools.product(FILLS, (True, False)):
        r = 0.16 * SIZE
        parts = render._place_parts(render._kind_parts(kind, rng), r,
                                    *render._pose(kind, rng))
        alpha = render._coverage(parts, SIZE, SIZE / 2, SIZE / 2, antialias)
        mask = alpha >= 0.5
        assert mask.sum() > 0.15 * r * r * np.pi, (kind, fill)
        # the whole outline lies inside the image: nothing touches its border
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any()
                    or mask[:, -1].any()), kind
        assert alpha.max() == pytest.approx(1.0) and alpha.min() == 0.0
        if not antialias:
            assert set(np.unique(alpha)) == {0.0, 1.0}
        # painted over grey, the mask is where the shape's colour dominates
        grey = np.full((SIZE, SIZE, 3), 120.0, np.float32)
        img = grey.copy()
        shape = ShapeInfo(kind, 'red', 'large', 'solid', 0.5, 0.5)
        render._paint(img, alpha, shape, fill, rng)
        reddish = img[..., 0] - img[..., 2] > 30
        inside, outside = reddish[mask], reddish[~mask]
        assert inside.mean() > 0.95 and outside.mean() < 0.01, (kind, fill, antialias)


def test_names_stay_true_under_pose():
    # a turned square reads as a diamond, a stretched circle is an oval: they never are
    for kind in ('circle', 'square', 'ring', 'cross', 'diamond'):
        turn, (low, high) = render._KIND_POSE[kind]
        assert turn <= 20
    for kind in ('circle', 'square', 'ring', 'crescent', 'semicircle'):
        assert render._KIND_POSE[kind][1] == (1.0, 1.0)
    rng = np.random.default_rng(0)
    for kind in ('oval', 'rectangle'):
        for _ in range(20):
            parts = render._place_parts(render._kind_parts(kind, rng), 10.0, 0.0,
                                        render._pose(kind, rng)[1])
            width, height = np.ptp(parts[0][0], axis=0)
            assert width / height > 1.4, kind  # always clearly longer than wide


@pytest.mark.parametrize('family', BACKGROUNDS)
def test_backgrounds_are_desaturated_and_keep_near_colours_off(family):
    rng = np.random.default_rng(BACKGROUNDS.index(family))
    for _ in range(5):
        bg = render._background(family, rng, SIZE)
        assert bg.shape == (SIZE, SIZE, 3)
        pixels = np.clip(bg, 0, 255).reshape(-1, 3)
        # saturation (max - min) / max stays low: no pixel reads as a saturated colour
        chroma = pixels.max(1) - pixels.min(1)
        assert np.all(chroma <= 0.2 * pixels.max(1) + 30), family
        allowed = render._colours_for(bg)
        assert len(allowed) >= 10
        for name in allowed:
            nearest = np.linalg.norm(pixels[::7] - COLOURS[name], axis=1).min()
            assert nearest >= render._MIN_BACKGROUND_DISTANCE - 20, (family, name)
    # a white page keeps white shapes off, a black one black shapes
    white = np.full((SIZE, SIZE, 3), 240.0, np.float32)
    assert 'white' not in render._colours_for(white) and 'grey' in render._colours_for(white)
    assert 'black' not in render._colours_for(np.full((SIZE, SIZE, 3), 30.0, np.float32))


def test_held_out_styles_only_in_held_out_scenes():
    held = {s for styles in HELDOUT_STYLES.values() for s in styles}
    assert set(HELDOUT_STYLES['background']) < set(BACKGROUNDS)
    seen_kinds, heldout_seen = set(), set()
    for index in range(60):
        rng = np.random.default_rng([5, index])
        seen = render._sample_style(rng, heldout=False)
        assert not seen.held_out() and seen.background not in held and not seen.shadow
        heldout = render._sample_style(rng, heldout=True)
        assert heldout.held_out()
        heldout_seen.update(heldout.held_out())
        seen_kinds.add(seen.background)
    assert heldout_seen == held  # every held-out style is used
    assert seen_kinds == set(BACKGROUNDS) - held
    assert SceneStyle('grid', fills=('flat',)).held_out() == ['grid']
    assert SceneStyle('flat', shadow=True).held_out() == ['shadow']


def test_generated_splits_record_their_styles(tmp_path):
    synthetic.make_synthetic_refer(tmp_path, num_train_images=4, num_val_images=2,
                                   num_test_images=1, num_heldout_scenes_images=4,
                                   image_size=64, num_fn_batches=1)
    images = json.loads((tmp_path / 'instances.json').read_text())['images']
    with open(tmp_path / 'refs(unc).p', 'rb') as f:
        split_of = {r['image_id']: r['split'] for r in pickle.load(f)}
    anns = json.loads((tmp_path / 'instances.json').read_text())['annotations']
    for img in images:
        style = SceneStyle(**dict(img['style'], fills=tuple(img['style']['fills'])))
        assert len(style.fills) == sum(a['image_id'] == img['id'] for a in anns)
        if split_of[img['id']] == 'heldout_scenes':
            assert style.held_out(), img
        else:
            assert not style.held_out(), img
    assert sorted(set(split_of.values())) == ['heldout_phrasing', 'heldout_scenes', 'testA',
                                              'testB', 'train', 'val']


def test_scenes_have_disjoint_visible_masks_and_medium_shapes_no_size_word():
    medium = 0
    for index in range(12):
        scene = synthetic.render_scene(synthetic.image_rng(2, index), SIZE,
                                       heldout_styles=index % 2 == 1)
        assert scene.image.shape == (SIZE, SIZE, 3) and scene.image.dtype == np.uint8
        assert len(scene.style.fills) == len(scene.shapes) >= 3
        union = np.zeros((SIZE, SIZE), bool)
        for shape, mask in zip(scene.shapes, scene.masks):
            assert mask.any() and not (union & mask.astype(bool)).any()
            union |= mask.astype(bool)
            medium += shape.size is None
    assert medium > 0
    # a shape between the size bands is not called large, and blocks "the large circle"
    # on the loose reading, so that sentence does not identify the large one
    big = ShapeInfo('circle', 'red', 'large', 'solid', 0.2, 0.5)
    middle = ShapeInfo('circle', 'red', None, 'solid', 0.8, 0.5)
    expr = synthetic.Expression(synthetic.Phrase(kind='circle', size='large'))
    assert synthetic.matching_shapes(expr, [big, middle]) == [0]
    assert not synthetic.identifies(expr, [big, middle], 0)
    assert synthetic.identifies(expr, [big, ShapeInfo('circle', 'red', 'small', 'solid',
                                                      0.8, 0.5)], 0)
