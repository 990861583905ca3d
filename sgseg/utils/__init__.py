from .cli import int_at_least
from .config import (apply_amp, apply_global_batch, close_distributed, launcher_world_size,
                     load_tool_config, prepare_train_config, set_num_threads, setup_work_dir)
from .malloc import keep_freed_memory
from .paths import resolve_model_path
from .progress import ProgressLog
from .set_env import register_all_modules

__all__ = [
    'apply_amp', 'apply_global_batch', 'keep_freed_memory', 'launcher_world_size',
    'prepare_train_config',
    'ProgressLog', 'close_distributed', 'int_at_least', 'load_tool_config',
    'register_all_modules', 'resolve_model_path', 'set_num_threads', 'setup_work_dir'
]
