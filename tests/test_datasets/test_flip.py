"""RandomFlipRefer: the left/right swap, the flip of image and masks, its randomness, the
synthetic generator's own semantics after a flip, and a training step with it on."""
import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.config import Config

from sgseg.datasets import RandomFlipRefer, swap_left_right
from sgseg.datasets import synthetic
from sgseg.registry import TRANSFORMS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('text, mirrored', [
    ('the man on the left', 'the man on the right'),
    ('Right guy', 'Left guy'),
    ('LEFT', 'RIGHT'),
    ('leftmost chair', 'rightmost chair'),
    ('the Rightmost one', 'the Leftmost one'),
    ('the left-most zebra', 'the right-most zebra'),
    ('on the left side', 'on the right side'),
    ('top left corner', 'top right corner'),
    ('the bottom-left cup.', 'the bottom-right cup.'),
    ('lefthand car, left-hand side', 'righthand car, right-hand side'),
    ('the dog to the left of the cat', 'the dog to the right of the cat'),
    ('person on the right', 'person on the left'),
    ('guy furthest to the left', 'guy furthest to the right'),
    ('second from the right', 'second from the left'),
    ('(left) woman; "right" man!', '(right) woman; "left" man!'),
    ("the man's left arm", "the man's right arm"),
    ('east of the river, western bank', 'west of the river, eastern bank'),
    ('the one on the right behind the chair', 'the one on the left behind the chair'),
    ('top right above the blue square', 'top left above the blue square'),
    ('a right angle on the left', 'a right angle on the right'),
    ('leftover cake on the right', 'leftover cake on the left'),
])
def test_swap_left_right(text, mirrored):
    assert swap_left_right(text) == mirrored
    assert swap_left_right(mirrored) == text


@pytest.mark.parametrize('text', [
    'leftover pizza', 'bright light', 'righteous man', 'alright then', 'copyright sign',
    'Eastwood', 'the beast', 'a northerly wind', 'nothing to swap here'])
def test_words_that_contain_a_side_are_untouched(text):
    assert swap_left_right(text) == text


@pytest.mark.parametrize('text', [
    'the car turning clockwise', 'counter-clockwise arrow', 'Anticlockwise spiral',
    'the dog right behind the man', 'man right next to the tree'])
def test_sentences_the_swap_cannot_mirror(text):
    assert swap_left_right(text) is None


def sample(text='the cat on the left', **extra):
    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    return dict(img=img, text=text, img_path='a.jpg', **extra)


def test_image_and_masks_are_mirrored_together():
    seg = np.zeros((4, 6), np.uint8)
    seg[:, :2] = 1  # the left third
    ref = np.zeros((8, 12), np.uint8)  # the original-size mask, another size
    ref[:, :4] = 1
    results = sample(gt_seg_map=seg.copy(), gt_ref_mask=ref.copy())
    img = results['img'].copy()
    out = RandomFlipRefer(prob=1.)(results)
    assert out['flip'] is True and out['flip_direction'] == 'horizontal'
    assert out['text'] == 'the cat on the right'
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    assert out['img'].flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(out['gt_seg_map'], seg[:, ::-1])
    np.testing.assert_array_equal(out['gt_ref_mask'], ref[:, ::-1])
    assert out['gt_ref_mask'][:, -4:].all() and not out['gt_ref_mask'][:, :-4].any()


def test_every_sentence_of_an_image_is_mirrored_or_none_is():
    expressions = [dict(text='left cup', gt_ref_mask=np.eye(3, dtype=np.uint8)),
                   dict(text='the red one')]
    out = RandomFlipRefer(prob=1.)(dict(sample(), expressions=expressions))
    assert out['flip'] and [e['text'] for e in out['expressions']] == ['right cup', 'the red one']
    np.testing.assert_array_equal(out['expressions'][0]['gt_ref_mask'],
                                  np.eye(3, dtype=np.uint8)[:, ::-1])
    blocked = [dict(text='left cup'), dict(text='turning clockwise')]
    results = dict(sample(), expressions=blocked)
    img = results['img'].copy()
    out = RandomFlipRefer(prob=1.)(results)
    assert out['flip'] is False and out['flip_direction'] is None
    assert [e['text'] for e in out['expressions']] == ['left cup', 'turning clockwise']
    np.testing.assert_array_equal(out['img'], img)


def test_a_sentence_that_cannot_be_mirrored_leaves_the_sample_unflipped():
    results = sample('the dog right behind the man')
    img = results['img'].copy()
    out = RandomFlipRefer(prob=1.)(results)
    assert out['flip'] is False and out['text'] == 'the dog right behind the man'
    np.testing.assert_array_equal(out['img'], img)


def flips(transform, n, seed, text='the cat on the left'):
    np.random.seed(seed)
    return np.array([transform(sample(text))['flip'] for _ in range(n)])


def test_probability_is_respected():
    for prob in (0.2, 0.5, 0.9):
        rate = flips(RandomFlipRefer(prob=prob), 4000, seed=1).mean()
        assert abs(rate - prob) < 0.03, (prob, rate)  # 4 sigma at p=0.5
    assert not flips(RandomFlipRefer(prob=0.), 50, seed=1).any()
    assert flips(RandomFlipRefer(prob=1.), 50, seed=1).all()


def test_prob_zero_draws_nothing_and_blocked_sentences_draw_as_others():
    np.random.seed(3)
    RandomFlipRefer(prob=0.)(sample())
    assert np.random.rand() == np.random.RandomState(3).rand()
    # the draw happens whatever the sentence, so the stream after it does not move
    np.random.seed(3)
    RandomFlipRefer(prob=0.5)(sample('turning clockwise'))
    after_blocked = np.random.rand()
    np.random.seed(3)
    RandomFlipRefer(prob=0.5)(sample())
    assert np.random.rand() == after_blocked


def test_seeded_runs_flip_the_same_samples():
    transform = TRANSFORMS.build(dict(type='RandomFlipRefer', prob=0.5))
    first, again = flips(transform, 200, seed=7), flips(transform, 200, seed=7)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, flips(transform, 200, seed=8))


def test_bad_arguments_and_input_are_named():
    with pytest.raises(ValueError, match='prob must be in'):
        RandomFlipRefer(prob=1.5)
    with pytest.raises(KeyError, match="'a.jpg' has no sentence"):
        RandomFlipRefer(prob=1.)(dict(img=np.zeros((2, 2, 3), np.uint8), img_path='a.jpg'))


def test_flip_reaches_the_metainfo():
    pipeline = Compose([TRANSFORMS.build(dict(type='RandomFlipRefer', prob=1.)),
                        TRANSFORMS.build(dict(type='PackRefSegInputs'))])
    packed = pipeline(sample())
    assert packed['data_samples'].flip is True
    assert packed['data_samples'].flip_direction == 'horizontal'
    assert packed['data_samples'].text == 'the cat on the right'


def test_configs_offer_it_off_by_default_and_leave_refcoco_alone():
    default = Config.fromfile(str(ROOT / 'configs/sg_vittiny_synthetic.py'))
    assert default.train_dataloader.dataset.pipeline[2] == dict(type='RandomFlipRefer', prob=0.)
    assert 'RandomFlipRefer' not in str(default.test_pipeline)
    default.merge_from_dict({'train_dataloader.dataset.pipeline.2.prob': 0.5})
    assert default.train_dataloader.dataset.pipeline[2].prob == 0.5
    flip = Config.fromfile(str(ROOT / 'configs/sg_vittiny_synthetic_flip.py'))
    steps = [s['type'] for s in flip.train_dataloader.dataset.pipeline]
    assert steps == ['LoadRefImage', 'Resize', 'RandomFlipRefer', 'PackRefSegInputs']
    assert flip.train_dataloader.dataset.pipeline[2].prob == 0.5
    refcoco = Config.fromfile(str(ROOT / 'configs/sg_vits16_refcoco.py'))
    assert 'RandomFlipRefer' not in str(refcoco.train_dataloader.dataset.pipeline)


def mirror_shapes(shapes):
    """The generator's shapes of the mirrored image (x measured from the other side)."""
    return [replace(s, x=1. - s.x, bbox=(1. - s.bbox[2], s.bbox[1], 1. - s.bbox[0], s.bbox[3]))
            for s in shapes]


def mirror_expression(expr):
    """The expression with left and right swapped (its meaning in the mirrored image)."""
    swap = {'left': 'right', 'right': 'left'}
    return replace(expr, target=replace(expr.target, hpos=swap.get(expr.target.hpos,
                                                                   expr.target.hpos)),
                   relation=swap.get(expr.relation, expr.relation),
                   order=swap.get(expr.order, expr.order))


def test_flipped_synthetic_sentences_still_identify_their_target():
    """Generated sentences, mirrored, are the generator's own sentences of the mirrored
    expression (same wording), which identifies the mirrored target; unmirrored, the
    expressions that name a side would not (the check bites)."""
    flip = RandomFlipRefer(prob=1.)
    checked = named_a_side = bites = 0
    for index in range(40):
        rng = synthetic.image_rng(0, index)
        scene = synthetic.render_scene(rng, image_size=64)
        mirrored = mirror_shapes(scene.shapes)
        for target in range(len(scene.shapes)):
            for expr in synthetic.refer(rng, scene.shapes, target, num=3):
                wording = copy.deepcopy(rng)
                # every 4th scene in the held-out phrasings ("furthest to the left", ...)
                heldout = index % 4 == 3
                text = synthetic.describe(rng, expr, heldout=heldout)
                mirrored_expr = mirror_expression(expr)
                mirrored_text = synthetic.describe(wording, mirrored_expr, heldout=heldout)
                text = text[0].upper() + text[1:] + '.' if index % 2 else text
                results = flip(dict(img=scene.image.copy(), text=text, img_path=str(index),
                                    gt_seg_map=scene.masks[target].copy()))
                assert results['flip'], text
                # the mirrored mask is the target's mask in the mirrored image
                np.testing.assert_array_equal(results['gt_seg_map'], scene.masks[target][:, ::-1])
                np.testing.assert_array_equal(results['img'], scene.image[:, ::-1])
                assert results['text'].lower().rstrip('.') == mirrored_text, text
                assert synthetic.identifies(mirrored_expr, mirrored, target), text
                checked += 1
                if mirrored_expr != expr:
                    named_a_side += 1
                    assert results['text'] != text
                    # "the second from the left" of three is also the second from the
                    # right: mostly, though, the unmirrored expression names another shape
                    bites += not synthetic.identifies(expr, mirrored, target)
    assert checked > 150 and named_a_side > 30, (checked, named_a_side)
    assert bites > 0.9 * named_a_side, (bites, named_a_side)


def test_one_training_step_with_the_flip_on(tmp_path):
    """The flip config (flip at prob 1) trains a step of a tiny model: the mirrored
    sentences tokenise and go through the frozen text encoder's feature cache."""
    from mmengine.runner import Runner

    from sgseg.utils import load_tool_config, prepare_train_config, register_all_modules
    data = tmp_path / 'data'
    synthetic.make_synthetic_refer(data, num_train_images=12, num_val_images=2,
                                   num_test_images=1, image_size=32, seed=0)
    options = {
        'train_dataloader.dataset.data_root': str(data),
        'val_dataloader.dataset.data_root': str(data),
        'test_dataloader.dataset.data_root': str(data),
        'train_dataloader.batch_size': 8,
        'train_dataloader.dataset.pipeline.1.scale': (32, 32),
        'train_dataloader.dataset.pipeline.2.prob': 1.,
        'model.embed_dims': 32,
        'model.backbone.img_size': 32, 'model.backbone.embed_dim': 24,
        'model.backbone.depth': 1, 'model.backbone.num_heads': 2,
        'model.entity_discovery.slot_initializer.num_gaussians': 2,
        'model.entity_discovery.slot_initializer.slots_per_gaussian': 2,
        'model.entity_discovery.hidden_dims': 32, 'model.entity_discovery.num_iters': 1,
        'model.fusion_head.head_dims': 16,
        'train_cfg.max_iters': 1, 'train_cfg.val_begin': 2,  # no evaluation
        'param_scheduler': [dict(type='ConstantLR', factor=1., by_epoch=False, begin=0,
                                 end=1)],
        'default_hooks.checkpoint': None,
        'default_hooks.logger.interval': 1,
    }
    register_all_modules(init_default_scope=False)
    cfg = load_tool_config(str(ROOT / 'configs/sg_vittiny_synthetic_flip.py'), 'none',
                           options, str(tmp_path / 'work'))
    prepare_train_config(cfg, 'none', False, options)
    runner = Runner.from_cfg(cfg)
    dataset = runner.train_dataloader.dataset
    samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
    flipped = [s for s in samples if s.flip]
    assert flipped and all(s.flip_direction == 'horizontal' for s in flipped)
    assert all(swap_left_right(s.text) is None for s in samples if not s.flip)
    runner.train()
    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss)
    # the cache holds the sentences the step saw: mirrored ones, each encoded on its miss
    texts = [dataset.get_data_info(i)['text'] for i in range(len(dataset))]
    tokenizer = runner.model.data_preprocessor.tokenizer
    mirrored = {np.array(tokenizer(swap_left_right(t))['input_ids']).tobytes() for t in texts}
    cache = runner.model.text_encoder._cache
    assert 1 <= len(cache) <= 8 and set(cache) <= mirrored
