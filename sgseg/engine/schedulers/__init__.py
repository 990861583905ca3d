from .hold_cosine_lr import HoldCosineAnnealingLR

__all__ = ['HoldCosineAnnealingLR']
