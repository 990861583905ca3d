from .checkpoint_compat import register_checkpoint_safe_globals
from .hooks import *  # noqa: F401,F403

__all__ = ['register_checkpoint_safe_globals']
