from .grouping_vit import GroupingViT
from .timm_vit import TimmViT

__all__ = ['GroupingViT', 'TimmViT']
