"""Draw dataset samples with their sentence as the title and the GT mask overlaid.

    python tools/misc/browse_dataset.py configs/_base_/datasets/refcoco.py \
        --split val --num 8 --out-dir work_dirs/browse

Each sample goes through the config's pipeline (so a broken pipeline shows here
first); the picture is the original image, with the mask the metric scores against
in red (evaluation splits only: training samples carry no mask).
"""
import argparse
import os
import os.path as osp
import sys
import textwrap
from typing import Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from sgseg.datasets import LoadRefImage  # noqa: E402
from sgseg.registry import DATASETS  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Draw samples of a dataset config.')
    parser.add_argument('config', help='config file with *_dataloader entries')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='val',
                        help='which dataloader of the config to draw from')
    parser.add_argument('--num', type=int, default=8, help='number of sentences')
    parser.add_argument('--out-dir', required=True, help='folder for the PNG files')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. a.b=c')
    return parser.parse_args()


def draw(image_bgr: np.ndarray, mask: Optional[np.ndarray], title: str, path: str) -> None:
    """Save the image, ``mask`` (H, W) in outlined translucent red, a wrapped title."""
    height, width = image_bgr.shape[:2]
    fig, ax = plt.subplots(figsize=(6, 6 * height / width + 0.6))
    ax.imshow(image_bgr[..., ::-1])
    if mask is not None:
        overlay = np.zeros((height, width, 4))
        overlay[mask > 0] = (1.0, 0.0, 0.0, 0.5)
        ax.imshow(overlay)
        ax.contour(mask, levels=[0.5], colors='yellow', linewidths=1)
    ax.set_axis_off()
    ax.set_title('\n'.join(textwrap.wrap(title, 60)), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'sgseg'))
    dataset = DATASETS.build(cfg[f'{args.split}_dataloader']['dataset'])
    os.makedirs(args.out_dir, exist_ok=True)
    load_image = LoadRefImage()
    drawn = 0
    for idx in range(len(dataset)):
        packed = dataset[idx]['data_samples']
        # an evaluation sample is an image with all its sentences: one picture each
        for sample in packed.expressions if 'expressions' in packed else [packed]:
            if drawn == args.num:
                return
            image = load_image(dict(img_path=sample.img_path))['img']
            mask = sample.gt_sem_seg.data[0].numpy() if 'gt_sem_seg' in sample else None
            name = f'{drawn:04d}_{sample.sent_id}.png'
            draw(image, mask, f'{sample.text}  (sent_id {sample.sent_id})',
                 osp.join(args.out_dir, name))
            print(f'{osp.join(args.out_dir, name)}: {sample.text}')
            drawn += 1


if __name__ == '__main__':
    main()
