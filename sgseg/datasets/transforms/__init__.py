from .formatting import PackRefSegInputs
from .loading import LoadRefImage, LoadRefMask, decode_segmentation, load_binary_mask

__all__ = ['LoadRefImage', 'LoadRefMask', 'PackRefSegInputs', 'decode_segmentation',
           'load_binary_mask']
