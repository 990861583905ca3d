from .base_refseg import BaseRefSegmentor
from .groupvit import GroupViT
from .maskclip import MaskCLIP
from .shatter_and_gather import ShatterAndGather

__all__ = ['BaseRefSegmentor', 'GroupViT', 'MaskCLIP', 'ShatterAndGather']
