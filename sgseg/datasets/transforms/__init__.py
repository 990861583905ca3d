from .formatting import PackRefSegInputs
from .loading import LoadRefImage, LoadRefMask, decode_segmentation

__all__ = ['LoadRefImage', 'LoadRefMask', 'PackRefSegInputs', 'decode_segmentation']
