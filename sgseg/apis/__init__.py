from .scheme_evaluation import evaluate_schemes
from .test_config import configure_test, ensure_writable_dir

__all__ = ['configure_test', 'ensure_writable_dir', 'evaluate_schemes']
