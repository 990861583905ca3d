from .position_encoding import sine_position_encoding
from .transformer import (DROPOUT_LAYOUTS, FeedForward, SelfAttentionLayer,
                          check_dropout_layout)

__all__ = ['sine_position_encoding', 'DROPOUT_LAYOUTS', 'FeedForward', 'SelfAttentionLayer',
           'check_dropout_layout']
