from .config import (apply_amp, apply_global_batch, close_distributed, launcher_world_size,
                     load_tool_config, prepare_train_config, set_num_threads, setup_work_dir)
from .paths import resolve_model_path
from .set_env import register_all_modules

__all__ = [
    'apply_amp', 'apply_global_batch', 'launcher_world_size', 'prepare_train_config',
    'close_distributed', 'load_tool_config', 'register_all_modules', 'resolve_model_path',
    'set_num_threads', 'setup_work_dir'
]
