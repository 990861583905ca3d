from .metrics import RefSegMetric

__all__ = ['RefSegMetric']
