from .flip import FLIP_BLOCKING_WORDS, LEFT_RIGHT_SWAPS, RandomFlipRefer, swap_left_right
from .formatting import PackRefSegInputs
from .loading import LoadRefImage, LoadRefMask, decode_segmentation, load_binary_mask

__all__ = ['FLIP_BLOCKING_WORDS', 'LEFT_RIGHT_SWAPS', 'LoadRefImage', 'LoadRefMask',
           'PackRefSegInputs', 'RandomFlipRefer', 'decode_segmentation', 'load_binary_mask',
           'swap_left_right']
