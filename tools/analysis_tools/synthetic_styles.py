"""A contact sheet of synthetic scenes: seen styles, then held-out styles, each captioned
with its style and shapes; with --outlines each image is shown beside itself with the
outlines of its shapes' masks, to check that masks and pixels agree.

    python tools/analysis_tools/synthetic_styles.py --out docs/images/synthetic_styles.png

The scenes are those of a dataset generated with the same seed and image size: the
val split's first images (seen styles) and the heldout_scenes split's.
"""
import argparse
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from sgseg.datasets.synthetic import image_rng, render_scene  # noqa: E402


def tile(index: int, seed: int, size: int, heldout: bool, scale: int,
         outlines: bool) -> np.ndarray:
    """One scene upscaled (beside itself with mask outlines) under a style caption."""
    scene = render_scene(image_rng(seed, index), size, heldout_styles=heldout)
    side = size * scale
    image = cv2.resize(scene.image, (side, side), interpolation=cv2.INTER_NEAREST)
    outlined = image.copy()
    for k, mask in enumerate(scene.masks):
        big = cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(big, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
        colour = (0, 255, 0) if k % 2 == 0 else (255, 0, 255)
        cv2.drawContours(outlined, contours, -1, colour, 1)
    style = scene.style
    caption = (f"{'HELD-OUT ' if heldout else ''}{style.background}"
               f"{' +shadow' if style.shadow else ''}{'' if style.antialias else ' aliased'}"
               f" | {', '.join(f'{s.colour} {s.kind}' for s in scene.shapes)}")
    width = 2 * side if outlines else side
    strip = np.full((18, width, 3), 255, np.uint8)
    cv2.putText(strip, caption[:int(width / 6.2)], (3, 13), cv2.FONT_HERSHEY_SIMPLEX,
                0.36, (0, 0, 160) if heldout else (0, 0, 0), 1, cv2.LINE_AA)
    if outlines:
        image = np.concatenate([image, np.full((side, 2, 3), 255, np.uint8), outlined],
                               1)[:, :width]
    return np.concatenate([strip, image], 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='docs/images/synthetic_styles.png')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--num-train', type=int, default=4000,
                        help='train images of the dataset (locates val)')
    parser.add_argument('--first-heldout', type=int, default=4600,
                        help='index of the first heldout_scenes image')
    parser.add_argument('--per-kind', type=int, default=8, help='scenes of each kind')
    parser.add_argument('--scale', type=int, default=2)
    parser.add_argument('--outlines', action='store_true',
                        help="show each scene beside its masks' outlines")
    args = parser.parse_args()
    tiles = [tile(args.num_train + i, args.seed, args.image_size, False, args.scale,
                  args.outlines)
             for i in range(args.per_kind)]
    tiles += [tile(args.first_heldout + i, args.seed, args.image_size, True, args.scale,
                   args.outlines)
              for i in range(args.per_kind)]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    rows = [np.concatenate([x for t in tiles[i:i + 4] for x in (t, gap)][:-1], 1)
            for i in range(0, len(tiles), 4)]
    sheet = np.concatenate([x for r in rows for x in (r, np.full((6, r.shape[1], 3), 255,
                                                                   np.uint8))][:-1], 0)
    cv2.imwrite(args.out, sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f'wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})')


if __name__ == '__main__':
    main()
