# First: a shared environment must not silently run another clone's code.
from ._clone_check import check_environment

check_environment()

from .version import __version__  # noqa: E402

# mmengine's checkpoints must load under torch>=2.6's weights_only=True for resume.
from .engine.checkpoint_compat import register_checkpoint_safe_globals  # noqa: E402

register_checkpoint_safe_globals()

__all__ = ['__version__']
