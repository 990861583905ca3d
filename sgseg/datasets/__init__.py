from .base import RefSegDataset, group_by_image
from .image_text import ImageTextDataset, ImageTextRow, RowError, read_image_text_file
from .phrasecut import PhraseCutDataset, phrasecut_to_coco_polygons
from .refer import ReferDataset, load_refs
from .shards import WebImageTextDataset, expand_shards, split_sentences
from .synthetic import make_synthetic_refer
from .transforms import (LoadRefImage, LoadRefMask, PackRefSegInputs, RandomFlipRefer,
                         decode_segmentation, swap_left_right)

__all__ = [
    'RefSegDataset', 'ReferDataset', 'PhraseCutDataset', 'group_by_image', 'load_refs',
    'phrasecut_to_coco_polygons', 'LoadRefImage', 'LoadRefMask', 'PackRefSegInputs',
    'decode_segmentation', 'make_synthetic_refer', 'ImageTextDataset', 'ImageTextRow',
    'RowError', 'read_image_text_file', 'WebImageTextDataset', 'expand_shards',
    'split_sentences', 'RandomFlipRefer', 'swap_left_right'
]
