from .grouping_vit import GroupingViT
from .hf_clip_vision import HFCLIPVision
from .timm_vit import TimmViT

__all__ = ['GroupingViT', 'HFCLIPVision', 'TimmViT']
