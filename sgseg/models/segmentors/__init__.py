from .base_refseg import BaseRefSegmentor
from .shatter_and_gather import ShatterAndGather

__all__ = ['BaseRefSegmentor', 'ShatterAndGather']
