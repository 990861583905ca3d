import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from PIL import Image
from pycocotools.coco import COCO

from sgseg.datasets import (LoadRefImage, LoadRefMask, PackRefSegInputs, ReferDataset,
                            decode_segmentation)
from sgseg.registry import TRANSFORMS
from tests.fixtures import write_refer_dataset

SIZE = 16
META = ('img_path', 'ori_shape', 'img_shape', 'scale_factor', 'text', 'sent_id', 'ref_id',
        'ann_id', 'image_id')


@pytest.fixture(scope='module')
def refer(tmp_path_factory):
    return write_refer_dataset(tmp_path_factory.mktemp('refcoco'))


def pipeline(*, with_mask: bool, keep_ratio: bool = False):
    """The eval/train pipeline, built from config dicts as a config would."""
    cfgs = [dict(type='LoadRefImage')]
    if with_mask:
        cfgs.append(dict(type='LoadRefMask'))
    cfgs.append(dict(type='Resize', scale=(SIZE, SIZE), keep_ratio=keep_ratio))
    if keep_ratio:
        cfgs.append(dict(type='Pad', size=(SIZE, SIZE)))
    cfgs.append(dict(type='PackRefSegInputs'))
    return Compose([TRANSFORMS.build(c) for c in cfgs])


@pytest.mark.parametrize('ann_id', [1, 2, 3, 4, 5])
def test_decode_agrees_with_pycocotools(refer, ann_id):
    """Polygons (one and two parts), compressed RLE, uncompressed crowd RLE."""
    coco = COCO(refer['instances'])
    ann = coco.anns[ann_id]
    img = coco.imgs[ann['image_id']]
    mask = decode_segmentation(ann['segmentation'], img['height'], img['width'])
    assert mask.dtype == np.uint8 and mask.shape == (img['height'], img['width'])
    assert mask.sum() > 0
    np.testing.assert_array_equal(mask, coco.annToMask(ann))


def test_decode_drops_degenerate_polygons():
    square = [2, 2, 8, 2, 8, 8, 2, 8]
    np.testing.assert_array_equal(decode_segmentation([[0, 0, 9, 0], square], 10, 10),
                                  decode_segmentation([square], 10, 10))
    assert decode_segmentation([[0, 0, 9, 9]], 10, 10).sum() == 0


def test_eval_pipeline_keeps_mask_at_original_size(refer):
    dataset = ReferDataset(data_root=refer['data_root'], split='val', test_mode=True,
                           group_by_image=False, pipeline=pipeline(with_mask=True).transforms)
    coco = COCO(refer['instances'])
    packed = dataset[2]  # ref 6 -> annotation 3 on the 36x28 PNG
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, SIZE, SIZE)
    gt = sample.gt_sem_seg.data
    assert gt.dtype == torch.uint8 and gt.shape == (1, 28, 36)
    np.testing.assert_array_equal(gt[0].numpy(), coco.annToMask(coco.anns[3]))
    for key in META:
        assert key in sample.metainfo, key
    assert sample.ori_shape == (28, 36) and sample.img_shape == (SIZE, SIZE)
    assert (sample.sent_id, sample.ref_id, sample.ann_id, sample.image_id) == (11, 6, 3, 102)
    assert sample.text == 'upper stripe'


def test_train_pipeline_has_no_mask(tmp_path):
    refer = write_refer_dataset(tmp_path, with_segmentation=False)
    dataset = ReferDataset(data_root=refer['data_root'], split='train',
                           pipeline=pipeline(with_mask=False).transforms)
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        assert 'gt_sem_seg' not in sample
        assert isinstance(sample.text, str)
        assert dataset[i]['inputs'].shape == (3, SIZE, SIZE)


def test_keep_ratio_and_pad(refer):
    dataset = ReferDataset(data_root=refer['data_root'], split='val', test_mode=True,
                           group_by_image=False,
                           pipeline=pipeline(with_mask=True, keep_ratio=True).transforms)
    packed = dataset[0]  # 40x30 image
    assert packed['inputs'].shape == (3, SIZE, SIZE)
    sample = packed['data_samples']
    # 40x30 scaled by 0.4 is 16x12, padded at the bottom; mmcv's Pad reports the padded
    # size as img_shape, the content is ori_shape * scale_factor.
    assert sample.scale_factor == (0.4, 0.4)
    assert sample.pad_shape[:2] == sample.img_shape == (SIZE, SIZE)
    assert packed['inputs'][:, 12:].sum() == 0 and packed['inputs'][:, :12].sum() > 0
    assert sample.gt_sem_seg.data.shape == (1, 30, 40)


def test_load_ref_mask_errors(refer):
    dataset = ReferDataset(data_root=refer['data_root'], split='val', test_mode=True,
                           group_by_image=False)
    info = LoadRefImage()(dataset.get_data_info(0))
    info['height'] = 31
    with pytest.raises(ValueError, match=r"COCO_train2014_000000000101.jpg' \(sent_id 3\) "
                                         r'is 30x40 .* says 31x40'):
        LoadRefMask()(info)
    train = ReferDataset(data_root=refer['data_root'], split='train')
    with pytest.raises(KeyError, match=r"sent_id 1 has no 'segmentation'"):
        LoadRefMask()(train.get_data_info(0))


def _bgr_of(pil_image: Image.Image) -> np.ndarray:
    return np.array(pil_image.convert('RGB'))[..., ::-1]


def _blocks() -> np.ndarray:
    """A 30x40 RGB image of flat colour blocks (JPEG keeps flat blocks nearly exact)."""
    img = np.zeros((30, 40, 3), dtype=np.uint8)
    img[:, :16] = (200, 30, 60)
    img[:, 16:32] = (20, 180, 90)
    img[:, 32:] = (250, 250, 10)
    return img


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'P', 'CMYK', 'I;16', 'RGB'])
def test_image_modes_load_as_bgr_uint8(tmp_path, mode):
    rgb = Image.fromarray(_blocks())
    if mode == 'I;16':
        gray16 = (np.arange(30 * 40, dtype=np.uint16).reshape(30, 40) * 50)
        image = Image.fromarray(gray16)
        path = tmp_path / 'img16.png'
        image.save(path)
        with Image.open(path) as reread:
            assert reread.mode.startswith('I')
        expected = np.repeat((gray16 >> 8).astype(np.uint8)[..., None], 3, axis=2)
        tolerance = 1
    elif mode == 'CMYK':
        path = tmp_path / 'img.jpg'
        rgb.convert('CMYK').save(path, quality=95)
        with Image.open(path) as reread:
            assert reread.mode == 'CMYK'
            expected = _bgr_of(reread)
        tolerance = 8
    else:
        image = rgb.convert(mode)
        if mode == 'RGBA':
            image.putalpha(Image.fromarray(np.full((30, 40), 7, dtype=np.uint8)))
        path = tmp_path / f"img_{mode}.png"
        image.save(path)
        with Image.open(path) as reread:
            assert reread.mode == mode
            expected = _bgr_of(reread)
        tolerance = 0
    results = LoadRefImage()(dict(img_path=str(path)))
    img = results['img']
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8
    assert results['ori_shape'] == (30, 40)
    assert np.abs(img.astype(int) - expected.astype(int)).max() <= tolerance


def test_image_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image file '.*nope.jpg' \(sent_id 4\) "
                                                r'not found'):
        LoadRefImage()(dict(img_path=str(tmp_path / 'nope.jpg'), sent_id=4))
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=r"image file '.*empty.jpg' .* is empty"):
        LoadRefImage()(dict(img_path=str(empty)))
    corrupt = tmp_path / 'corrupt.png'
    corrupt.write_bytes(b'\x89PNG\r\n\x1a\n' + b'garbage' * 10)
    with pytest.raises(ValueError, match=r"image file '.*corrupt.png' .* could not be "
                                         'decoded'):
        LoadRefImage()(dict(img_path=str(corrupt)))
    with pytest.raises(ValueError, match="color_type must be 'color'"):
        LoadRefImage(color_type='grayscale')


def test_pack_rejects_non_rgb_image():
    with pytest.raises(ValueError, match=r"image 'x.png' has shape \(4, 4\)"):
        PackRefSegInputs()(dict(img=np.zeros((4, 4), np.uint8), img_path='x.png'))


def test_exif_orientation_is_ignored(tmp_path):
    """Annotations live in the stored pixel grid, so a rotate-90 tag must not apply."""
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / 'tagged.jpg'
    Image.fromarray(_blocks()).save(path, exif=exif.tobytes())
    assert LoadRefImage()(dict(img_path=str(path)))['img'].shape == (30, 40, 3)
    assert LoadRefImage(color_type='color')(dict(img_path=str(path)))['img'].shape == \
        (40, 30, 3)


def test_recipe_training_resize_is_480_then_384_anti_aliased():
    """The authors' preprocessing: longer side to 480 (ratio kept), then squashed to
    384 x 384, both anti-aliased (a 1-pixel checkerboard averages to grey instead of
    aliasing into stripes)."""
    from pathlib import Path

    from mmengine.config import Config

    from sgseg.utils import register_all_modules
    register_all_modules()
    root = Path(__file__).resolve().parents[2]
    steps = Config.fromfile(str(root / 'configs/sg_vits16_refcoco.py')).train_pipeline
    resizes = [TRANSFORMS.build(t) for t in steps if t['type'] == 'Resize']
    assert len(resizes) == 2
    checker = ((np.indices((1000, 700)).sum(0) % 2) * 255).astype(np.uint8)
    img = np.repeat(checker[..., None], 3, axis=2)
    first = resizes[0](dict(img=img.copy(), img_shape=img.shape[:2], ori_shape=img.shape[:2]))
    assert first['img'].shape[:2] == (480, 336)  # longer side 480, ratio kept
    out = resizes[1](first)['img']
    assert out.shape[:2] == (384, 384)
    assert abs(float(out.mean()) - 127.5) < 3 and float(out.std()) < 10
    aliased = Compose([dict(type='Resize', scale=(384, 384), keep_ratio=False)])(
        dict(img=img.copy(), img_shape=img.shape[:2]))['img']
    assert float(aliased.std()) > 30  # the cv2 bilinear squash without anti-aliasing


def _png(path, seed, size=(20, 30)):
    img = np.random.RandomState(seed).randint(0, 256, (*size, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)
    return img


def test_load_image_cache_keeps_decoded_images(tmp_path):
    """With cache_mb an image is decoded once per process; each call gets its own copy."""
    paths = [tmp_path / f'{i}.png' for i in range(3)]
    images = [_png(p, i) for i, p in enumerate(paths)]
    load = LoadRefImage(cache_mb=1)
    first = load(dict(img_path=str(paths[0]), sent_id=1))['img']
    np.testing.assert_array_equal(first, images[0])
    first[:] = 0  # a later transform changing the image in place
    paths[0].unlink()  # read again, this would fail
    again = load(dict(img_path=str(paths[0]), sent_id=2))['img']
    np.testing.assert_array_equal(again, images[0])
    assert again is not first
    # Without a cache the file is read every time.
    with pytest.raises(FileNotFoundError, match=r"0\.png' \(sent_id 3\) not found"):
        LoadRefImage()(dict(img_path=str(paths[0]), sent_id=3))


def test_load_image_cache_drops_least_recently_used(tmp_path):
    paths = [tmp_path / f'{i}.png' for i in range(3)]
    images = [_png(p, i) for i, p in enumerate(paths)]
    # Room for two 20 x 30 x 3 images, not three.
    load = LoadRefImage(cache_mb=2.5 * images[0].nbytes / 2**20)
    for i in (0, 1, 0, 2):  # 1 is now the least recently used
        load(dict(img_path=str(paths[i]), sent_id=i))
    for p in paths:
        p.unlink()
    for i in (0, 2):
        np.testing.assert_array_equal(load(dict(img_path=str(paths[i]), sent_id=i))['img'],
                                      images[i])
    with pytest.raises(FileNotFoundError, match=r"1\.png' \(sent_id 1\) not found"):
        load(dict(img_path=str(paths[1]), sent_id=1))
    with pytest.raises(ValueError, match='cache_mb must be >= 0'):
        LoadRefImage(cache_mb=-1)
