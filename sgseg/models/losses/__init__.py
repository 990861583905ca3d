from .c3_loss import C3Loss
from .clip_contrastive_loss import CLIPContrastiveLoss
from .image_text_contrastive_loss import ImageTextContrastiveLoss
from .patch_assignment_loss import PatchAssignmentLoss
from .pooled_contrastive_loss import PooledContrastiveLoss
from .reconstruction_loss import ReconstructionLoss, SpatialBroadcastDecoder

__all__ = [
    'C3Loss', 'CLIPContrastiveLoss', 'ImageTextContrastiveLoss', 'PatchAssignmentLoss',
    'PooledContrastiveLoss', 'ReconstructionLoss', 'SpatialBroadcastDecoder'
]
