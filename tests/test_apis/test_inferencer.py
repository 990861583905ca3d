"""RefSegInferencer and tools/demo.py on a tiny model."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from PIL import Image

from sgseg.apis import RefSegInferencer
from sgseg.engine import CheckpointFileError
from sgseg.registry import TRANSFORMS
from tests.test_models.tiny import IMG, TINY_MODEL, build_tiny
from tests.test_tools.conftest import load_tool, run_tool

CONFIG = """
default_scope = 'sgseg'
model = {model!r}
test_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='LoadRefMask'),
    dict(type='Resize', scale=({img}, {img}), keep_ratio=False),
    dict(type='PackRefSegInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
"""
SENTENCES = ['the red square', 'the blue circle on the left', 'a green star']


@pytest.fixture(scope='module')
def tiny_files(tmp_path_factory):
    """A tiny config, a checkpoint of a tiny model and two images of different sizes."""
    root = tmp_path_factory.mktemp('inferencer')
    config = root / 'tiny.py'
    config.write_text(CONFIG.format(model=TINY_MODEL, img=IMG))
    torch.manual_seed(3)
    model = build_tiny()
    checkpoint = root / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    rng = np.random.default_rng(0)
    image = root / 'a.png'
    cv2.imwrite(str(image), rng.integers(0, 256, (30, 45, 3), dtype=np.uint8))
    array = rng.integers(0, 256, (52, 28, 3), dtype=np.uint8)
    return dict(config=config, checkpoint=checkpoint, image=image, array=array,
                state_dict=model.state_dict())


@pytest.fixture(scope='module')
def inferencer(tiny_files):
    return RefSegInferencer(str(tiny_files['config']), str(tiny_files['checkpoint']))


def test_loads_the_checkpoint(inferencer, tiny_files):
    loaded = inferencer.model.state_dict()
    for key, value in tiny_files['state_dict'].items():
        assert torch.equal(loaded[key], value), key


def test_missing_files_are_named(tiny_files, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        RefSegInferencer(str(tiny_files['config']), str(tmp_path / 'nope.pth'))
    with pytest.raises(FileNotFoundError, match='nope.py'):
        RefSegInferencer(str(tmp_path / 'nope.py'))


def test_truncated_checkpoint_is_named_in_one_line(tiny_files, tmp_path):
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(Path(tiny_files['checkpoint']).read_bytes()[:-300])
    with pytest.raises(CheckpointFileError, match=r"checkpoint '.*cut.pth' is truncated"):
        RefSegInferencer(str(tiny_files['config']), str(cut))


def test_each_image_is_encoded_once_for_all_its_sentences(inferencer, tiny_files):
    images = [tiny_files['image'], tiny_files['array']]  # a Path and a BGR array
    backbone_batches, discovery_batches = [], []
    hooks = [
        inferencer.model.backbone.register_forward_hook(
            lambda mod, args, out: backbone_batches.append(args[0].shape[0])),
        inferencer.model.entity_discovery.register_forward_hook(
            lambda mod, args, out: discovery_batches.append(args[0].shape[0])),
    ]
    try:
        one_by_one = inferencer(images, [SENTENCES, SENTENCES], batch_size=1)
        assert backbone_batches == [1, 1] and discovery_batches == [1, 1]
        together = inferencer(images, [SENTENCES, SENTENCES], batch_size=2)
        assert backbone_batches[2:] == [2] and discovery_batches[2:] == [2]
    finally:
        for hook in hooks:
            hook.remove()

    for preds, shape in zip(one_by_one, [(30, 45), (52, 28)]):
        assert [p.text for p in preds] == SENTENCES
        for p in preds:
            assert p.score.shape == shape and p.score.dtype == np.float32
            assert p.score.min() == 0 and p.score.max() == pytest.approx(1)
            assert p.mask.dtype == bool and np.array_equal(p.mask, p.score >= 0.5)
            assert p.attn_slot.shape == (16, 6) and p.grid_size == (4, 4)
            assert p.attn_fuse.shape == (6,) and p.attn_fuse.sum() == pytest.approx(1, abs=1e-5)
        # the image is shattered once: its sentences share the entities, not the relevance
        assert np.array_equal(preds[0].attn_slot, preds[1].attn_slot)
        assert not np.allclose(preds[0].attn_fuse, preds[1].attn_fuse)
    # the slot draw follows the image, not the batch it was encoded in (batched matrix
    # products round differently in the last bits)
    for a, b in zip(sum(one_by_one, []), sum(together, [])):
        np.testing.assert_allclose(a.score, b.score, atol=1e-4)


def test_same_seed_same_result(inferencer, tiny_files):
    array = tiny_files['array']
    again = inferencer(array, 'a star')[0]
    assert np.array_equal(inferencer(array, 'a star')[0].score, again.score)
    # another image before it in the call does not change its slot draw
    first = inferencer([str(tiny_files['image']), array], ['a red square', 'a star'])
    np.testing.assert_allclose(first[1][0].score, again.score, atol=1e-4)
    inferencer.seed = 1
    try:
        other = inferencer(array, 'a star')[0]
    finally:
        inferencer.seed = 0
    assert not np.allclose(other.attn_slot, again.attn_slot, atol=1e-3)


def test_matches_the_model_prediction(inferencer, tiny_files):
    """With the same slot draw, the inferencer returns what ``predict`` would."""
    model, path = inferencer.model, str(tiny_files['image'])
    pipeline = Compose([TRANSFORMS.build(t) for t in (
        dict(type='LoadRefImage'), dict(type='Resize', scale=(IMG, IMG), keep_ratio=False),
        dict(type='PackRefSegInputs'))])
    sample = pipeline(dict(img_path=path, text='the red square'))
    data = model.data_preprocessor(dict(inputs=[sample['inputs']],
                                        data_samples=[sample['data_samples']]))
    # both draw the slots from the global RNG
    inferencer.seed, model.test_cfg['seed'] = None, None
    try:
        torch.manual_seed(7)
        pred = inferencer(path, 'the red square')[0]
        torch.manual_seed(7)
        with torch.no_grad():
            expected = model.predict(data['inputs'], data['data_samples'])[0]
    finally:
        inferencer.seed, model.test_cfg['seed'] = 0, 0
    np.testing.assert_allclose(pred.score, expected.seg_logits.data[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(pred.attn_fuse, expected.attn_fuse.numpy(), atol=1e-6)
    assert np.array_equal(pred.mask, expected.pred_sem_seg.data[0].numpy().astype(bool))


def test_input_errors(inferencer, tiny_files):
    image = str(tiny_files['image'])
    with pytest.raises(ValueError, match='2 images need a list of 2'):
        inferencer([image, image], 'one sentence for two images')
    with pytest.raises(ValueError, match='image 0 has no sentence'):
        inferencer(image, [])
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        inferencer('missing.jpg', 'a star')
    with pytest.raises(ValueError, match=r'\(H, W, 3\) BGR'):
        inferencer(np.zeros((8, 8, 5, 2), np.uint8), 'a star')


def test_image_types_and_shapes(inferencer, tiny_files):
    bgr = tiny_files['array']
    expected = inferencer(bgr, 'a star')[0].score
    # a PIL image (RGB), a BGRA array and a grayscale (H, W, 1) array are read as images
    pil = Image.fromarray(np.ascontiguousarray(bgr[..., ::-1]))
    assert np.array_equal(inferencer(pil, 'a star')[0].score, expected)
    assert np.array_equal(inferencer.load_image(pil.convert('RGBA')), bgr)
    bgra = np.concatenate([bgr, np.full(bgr.shape[:2] + (1,), 7, np.uint8)], axis=2)
    assert np.array_equal(inferencer(bgra, 'a star')[0].score, expected)
    gray = bgr[..., :1]
    assert np.array_equal(inferencer.load_image(gray), np.repeat(gray, 3, axis=2))
    # lists of images name the bad one
    with pytest.raises(ValueError, match=r'image 1: the image is empty \(0x0 pixels\)'):
        inferencer([bgr, np.zeros((0, 0, 3), np.uint8)], ['a', 'b'])
    with pytest.raises(ValueError, match='image: the image is empty'):
        inferencer(np.zeros((0, 5), np.uint8), 'a star')
    tensor = torch.zeros(3, 8, 8)
    with pytest.raises(TypeError, match=r'torch.Tensor \(3, 8, 8\) torch.float32 is not an '
                                        r'image.*\(H, W, 3\) uint8 BGR numpy array'):
        inferencer(tensor, 'a star')
    with pytest.raises(TypeError, match=r'must be uint8 \(0-255\), got float32'):
        inferencer(bgr.astype(np.float32) / 255, 'a star')
    with pytest.raises(ValueError, match=r'looks channel-first.*transpose\(1, 2, 0\)'):
        inferencer(np.ascontiguousarray(bgr.transpose(2, 0, 1)), 'a star')
    with pytest.raises(TypeError, match='got list'):
        inferencer.load_image([[1, 2]])


def test_crf_refines_the_score(tiny_files):
    pytest.importorskip('pydensecrf.densecrf')
    plain = RefSegInferencer(str(tiny_files['config']), str(tiny_files['checkpoint']))
    crf = RefSegInferencer(str(tiny_files['config']), str(tiny_files['checkpoint']), crf=True)
    image = str(tiny_files['image'])
    a, b = plain(image, 'a star')[0], crf(image, 'a star')[0]
    assert b.score.shape == a.score.shape and 0 <= b.score.min() <= b.score.max() <= 1
    assert not np.allclose(a.score, b.score)
    assert np.array_equal(a.attn_fuse, b.attn_fuse)


def test_crf_takes_the_config_s_dense_crf_settings(tiny_files, tmp_path):
    pytest.importorskip('pydensecrf.densecrf')
    config = tmp_path / 'tiny_crf.py'
    config.write_text(tiny_files['config'].read_text() + "dense_crf = dict(type='DenseCRF', "
                      'bilateral_srgb=30., bilateral_compat=20., gaussian_compat=1.)\n')
    own = RefSegInferencer(str(config), str(tiny_files['checkpoint']), crf=True)
    assert (own.crf.bilateral_srgb, own.crf.bilateral_compat, own.crf.gaussian_compat) == \
        (30., 20., 1.)
    default = RefSegInferencer(str(tiny_files['config']), str(tiny_files['checkpoint']),
                               crf=True)
    assert (default.crf.bilateral_srgb, default.crf.gaussian_compat) == (13., 3.)
    image = str(tiny_files['image'])
    assert not np.allclose(own(image, 'a star')[0].score, default(image, 'a star')[0].score)
    # off unless asked, whatever the config's settings
    assert RefSegInferencer(str(config), str(tiny_files['checkpoint'])).crf is None


def test_demo_writes_one_row_per_sentence(tiny_files, tmp_path):
    out = tmp_path / 'demo.png'
    proc = run_tool('tools/demo.py', str(tiny_files['image']), 'the red square',
                    'a green star', '--config', str(tiny_files['config']), '--checkpoint',
                    str(tiny_files['checkpoint']), '--out', str(out), '--topk', '2')
    picture = cv2.imread(str(out))
    alone = tmp_path / 'alone.png'
    run_tool('tools/demo.py', str(tiny_files['image']), 'the red square', '--config',
             str(tiny_files['config']), '--checkpoint', str(tiny_files['checkpoint']),
             '--out', str(alone), '--topk', '0')
    row = cv2.imread(str(alone))
    # two sentences: two rows; with --topk 2 two entity maps beside each overlay
    assert picture.shape[0] >= 2 * row.shape[0] - 4
    assert picture.shape[1] > 2 * row.shape[1]
    assert "'a green star'" in proc.stdout and 'top entities slot' in proc.stdout


def test_demo_checks_its_options_before_loading_the_model(tiny_files, tmp_path, capsys):
    demo = load_tool('tools/demo.py')
    with pytest.raises(SystemExit):
        demo.parse_args(['i.png', 'a star', '--checkpoint', 'c.pth', '--topk', '-1'])
    assert "argument --topk: must be an integer >= 0, got '-1'" in capsys.readouterr().err
    # a missing checkpoint would fail later: the --out errors come first
    args = [str(tiny_files['image']), 'a star', '--config', str(tiny_files['config']),
            '--checkpoint', str(tmp_path / 'missing.pth'), '--out']
    with pytest.raises(ValueError, match=f"--out: '{tmp_path}/demo' has no extension"):
        demo.main(args + [str(tmp_path / 'demo')])
    with pytest.raises(ValueError, match=r"has an extension \(.xyz\) OpenCV cannot write"):
        demo.main(args + [str(tmp_path / 'demo.xyz')])
    with pytest.raises(IsADirectoryError, match=f"--out: '{tmp_path}' names a folder"):
        demo.main(args + [str(tmp_path)])


def test_demo_topk_above_the_number_of_entities_draws_them_all(tiny_files, tmp_path, capsys):
    demo = load_tool('tools/demo.py')
    args = [str(tiny_files['image']), 'a star', '--config', str(tiny_files['config']),
            '--checkpoint', str(tiny_files['checkpoint']), '--out']
    demo.main(args + [str(tmp_path / 'all.png'), '--topk', '99'])
    assert '--topk 99: the model has 6 entities; drawing all 6' in capsys.readouterr().out
    demo.main(args + [str(tmp_path / 'six.png'), '--topk', '6'])
    assert 'drawing all' not in capsys.readouterr().out
    assert np.array_equal(cv2.imread(str(tmp_path / 'all.png')),
                          cv2.imread(str(tmp_path / 'six.png')))
