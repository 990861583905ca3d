from .dense_crf import DenseCRF, crf_settings

__all__ = ['DenseCRF', 'crf_settings']
