from .c3_loss import C3Loss
from .image_text_contrastive_loss import ImageTextContrastiveLoss
from .pooled_contrastive_loss import PooledContrastiveLoss
from .reconstruction_loss import ReconstructionLoss, SpatialBroadcastDecoder

__all__ = [
    'C3Loss', 'ImageTextContrastiveLoss', 'PooledContrastiveLoss', 'ReconstructionLoss',
    'SpatialBroadcastDecoder'
]
