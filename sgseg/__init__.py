from .version import __version__

# mmengine's checkpoints must load under torch>=2.6's weights_only=True for resume.
from .engine.checkpoint_compat import register_checkpoint_safe_globals  # noqa: E402

register_checkpoint_safe_globals()

__all__ = ['__version__']
