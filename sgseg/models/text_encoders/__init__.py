from .hf_clip_text import HFCLIPText
from .hf_text_encoder import HFTextEncoder

__all__ = ['HFCLIPText', 'HFTextEncoder']
