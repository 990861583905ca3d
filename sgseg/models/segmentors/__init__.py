from .shatter_and_gather import ShatterAndGather

__all__ = ['ShatterAndGather']
