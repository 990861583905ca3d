from .dense_crf import DenseCRF, crf_settings, refine_score

__all__ = ['DenseCRF', 'crf_settings', 'refine_score']
