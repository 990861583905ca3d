from .loss_warmup_hook import LossWarmupHook
from .visualization_hook import RefSegVisualizationHook

__all__ = ['LossWarmupHook', 'RefSegVisualizationHook']
