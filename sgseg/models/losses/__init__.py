from .c3_loss import C3Loss
from .reconstruction_loss import ReconstructionLoss, SpatialBroadcastDecoder

__all__ = ['C3Loss', 'ReconstructionLoss', 'SpatialBroadcastDecoder']
