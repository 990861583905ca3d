from .atomic_io import AtomicLocalBackend, atomic_write_bytes, atomic_write_text
from .checkpoint_compat import register_checkpoint_safe_globals
from .checkpoint_files import CheckpointFileError, check_checkpoint_file, checkpoint_file_problem
from .config_check import check_config_values
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
from .registry_help import check_config_types, close_names

__all__ = ['register_checkpoint_safe_globals', 'AtomicLocalBackend', 'atomic_write_bytes',
           'atomic_write_text', 'check_config_types', 'check_config_values', 'close_names',
           'CheckpointFileError', 'check_checkpoint_file', 'checkpoint_file_problem']
