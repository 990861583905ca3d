from .position_encoding import sine_position_encoding
from .transformer import FeedForward, SelfAttentionLayer

__all__ = ['sine_position_encoding', 'FeedForward', 'SelfAttentionLayer']
