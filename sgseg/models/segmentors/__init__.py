from .base_refseg import BaseRefSegmentor
from .groupvit import GroupViT
from .maskclip import MaskCLIP
from .shatter_and_gather import ShatterAndGather
from .tseg import TSEG

__all__ = ['BaseRefSegmentor', 'GroupViT', 'MaskCLIP', 'ShatterAndGather', 'TSEG']
