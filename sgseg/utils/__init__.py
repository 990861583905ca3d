from .config import close_distributed, load_tool_config, set_num_threads, setup_work_dir
from .paths import resolve_model_path
from .set_env import register_all_modules

__all__ = [
    'close_distributed', 'load_tool_config', 'register_all_modules', 'resolve_model_path',
    'set_num_threads', 'setup_work_dir'
]
