"""Bad image files fail naming the file and the sentence; odd modes and huge images work."""
import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Resize
from mmengine.dataset import pseudo_collate
from PIL import Image

from sgseg.datasets.transforms import LoadRefImage, LoadRefMask, PackRefSegInputs
from sgseg.evaluation import RefSegMetric
from tests.test_models.tiny import IMG, build_tiny


def sample(path, **extra):
    return dict(img_path=str(path), sent_id=7, **extra)


def jpeg_bytes(height=40, width=50):
    img = (np.random.RandomState(0).rand(height, width, 3) * 255).astype(np.uint8)
    return cv2.imencode('.jpg', img)[1].tobytes()


def test_missing_image_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image file '.*nope.jpg' \(sent_id 7\) not found"):
        LoadRefImage()(sample(tmp_path / 'nope.jpg'))


@pytest.mark.parametrize('keep', [0.2, 0.5, 0.95])
def test_truncated_jpeg(tmp_path, keep):
    data = jpeg_bytes()
    path = tmp_path / 'cut.jpg'
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"image file '.*cut.jpg' \(sent_id 7\) could not be "
                                         'decoded'):
        LoadRefImage()(sample(path))


def test_corrupt_bytes(tmp_path):
    path = tmp_path / 'garbage.jpg'
    path.write_bytes(b'\xff\xd8' + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match='garbage.jpg.*could not be decoded'):
        LoadRefImage()(sample(path))


def test_zero_byte_file(tmp_path):
    path = tmp_path / 'empty.jpg'
    path.write_bytes(b'')
    with pytest.raises(ValueError, match=r"'.*empty.jpg' \(sent_id 7\) is empty \(0 bytes\)"):
        LoadRefImage()(sample(path))


def _write_mode(path_dir, mode):
    rgb = Image.fromarray((np.random.RandomState(1).rand(30, 40, 3) * 255).astype(np.uint8))
    if mode == 'I;16':
        path = path_dir / 'img.png'
        Image.fromarray((np.arange(1200, dtype=np.uint16).reshape(30, 40) * 50)).save(path)
    elif mode == 'CMYK':
        path = path_dir / 'img.jpg'
        rgb.convert('CMYK').save(path, quality=95)
    else:
        path = path_dir / 'img.png'
        rgb.convert(mode).save(path)
    with Image.open(path) as reread:
        assert reread.mode.startswith(mode[0])  # the file really is in that mode
    return path


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'P', 'CMYK', 'I;16'])
def test_image_modes_become_bgr_uint8_and_pack(tmp_path, mode):
    results = LoadRefImage()(sample(_write_mode(tmp_path, mode)))
    assert results['img'].shape == (30, 40, 3) and results['img'].dtype == np.uint8
    packed = PackRefSegInputs()(results)
    assert packed['inputs'].shape == (3, 30, 40)


def test_huge_image_mask_and_scores_at_original_size(tmp_path):
    height, width = 6000, 8000
    img = np.zeros((height, width, 3), dtype=np.uint8)
    img[1000:3000, 2000:5000] = (0, 0, 255)
    path = tmp_path / 'huge.jpg'
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 50])
    polygon = [[2000, 1000, 5000, 1000, 5000, 3000, 2000, 3000]]
    results = sample(path, text='the red box', segmentation=polygon, height=height,
                     width=width)
    for t in (LoadRefImage(), LoadRefMask()):
        results = t(results)
    results = Resize(scale=(IMG, IMG), keep_ratio=False)(results)
    packed = PackRefSegInputs()(results)
    assert packed['data_samples'].gt_sem_seg.data.shape == (1, height, width)

    model = build_tiny().eval()
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate([packed]))
        (out, ) = model.predict(data['inputs'], data['data_samples'])
    assert out.seg_logits.data.shape == out.pred_sem_seg.data.shape == (1, height, width)
    assert 0 <= float(out.seg_logits.data.min()) and float(out.seg_logits.data.max()) <= 1
    metric = RefSegMetric()
    metric.process({}, [out.to_dict()])
    scores = metric.compute_metrics(metric.results)
    assert scores['n'] == 1 and 0 <= scores['mIoU'] <= 100
