from .ablations import (ABLATION_METRICS, ablated_config, config_diff, paper_ablations,
                        run_ablations, write_report)
from .inferencer import RefSegInferencer, RefSegPrediction
from .scheme_evaluation import evaluate_schemes
from .test_config import (build_evaluation_runner, check_out_file, configure_test,
                          ensure_writable_dir, evaluate_seeds, runner_from_args)
from .threshold_sweep import evaluate_crf_settings, evaluate_thresholds
from .web_demo import DemoInputError, WebDemo, load_examples

__all__ = [
    'ABLATION_METRICS', 'DemoInputError', 'RefSegInferencer', 'RefSegPrediction', 'WebDemo',
    'ablated_config', 'build_evaluation_runner', 'check_out_file', 'config_diff',
    'configure_test', 'ensure_writable_dir', 'evaluate_crf_settings', 'evaluate_schemes',
    'evaluate_seeds', 'evaluate_thresholds', 'load_examples', 'paper_ablations',
    'run_ablations', 'runner_from_args', 'write_report'
]
