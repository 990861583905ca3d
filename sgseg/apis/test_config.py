import os
import os.path as osp
from typing import Optional

from mmengine.config import Config

from sgseg.postprocess.dense_crf import import_densecrf


def ensure_writable_dir(path: str, what: str) -> None:
    """Creates ``path`` if needed and fails early, naming the option, if it cannot be written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise PermissionError(f'{what}: cannot create {path!r}: {err}') from err
    if not os.access(path, os.W_OK):
        raise PermissionError(f'{what}: {path!r} is not writable')


def configure_test(cfg: Config,
                   checkpoint: str,
                   out: Optional[str] = None,
                   show_dir: Optional[str] = None,
                   crf: bool = False,
                   scheme: Optional[str] = None,
                   seed: Optional[int] = None) -> Config:
    """Applies tools/test.py's options to a config (in place).

    Args:
        cfg: the loaded config.
        checkpoint: checkpoint file to evaluate.
        out: JSON-lines file for per-sentence results.
        show_dir: folder for overlays of every evaluated sentence.
        crf: turn DenseCRF post-processing on (fails here, with the install
            command, if pydensecrf is missing).
        scheme: inference scheme override.
        seed: slot sampling seed; by default the config's ``model.test_cfg.seed``, or
            ``randomness.seed`` when that is unset.

    Returns:
        Config: ``cfg``.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
    cfg.load_from = checkpoint
    # mmengine loads load_from non-strictly: refuse a checkpoint of another config
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(h.get('type') == 'CheckpointMatchHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='CheckpointMatchHook')]
    test_cfg = cfg.model.setdefault('test_cfg', {})
    if seed is not None:
        test_cfg['seed'] = seed
    elif test_cfg.get('seed') is None:
        test_cfg['seed'] = cfg.get('randomness', {}).get('seed', 0)
    if crf:
        # fail before the model is built and the data loaded, not at the first batch
        import_densecrf()
        test_cfg['crf'] = dict(type='DenseCRF')
    if scheme is not None:
        test_cfg['inference_scheme'] = scheme
    if out is not None:
        ensure_writable_dir(osp.dirname(osp.abspath(out)), '--out')
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]
        for evaluator in evaluators:
            if evaluator.get('type') == 'RefSegMetric':
                evaluator['out_file'] = out
    if show_dir is not None:
        ensure_writable_dir(show_dir, '--show-dir')
        cfg.default_hooks['visualization'] = dict(
            type='RefSegVisualizationHook', draw=True, show_dir=show_dir)
    return cfg


def build_evaluation_runner(config: str,
                            checkpoint: str,
                            cfg_options: Optional[dict] = None,
                            work_dir: Optional[str] = None,
                            threads: Optional[int] = None,
                            **test_options):
    """A single-process Runner with ``checkpoint`` loaded, for the analysis tools.

    Args:
        config: config file.
        checkpoint: checkpoint file.
        cfg_options: ``--cfg-options`` overrides.
        work_dir: work dir for logs.
        threads: torch CPU threads (``SGSEG_THREADS`` by default).
        **test_options: passed to :func:`configure_test` (``seed``, ``scheme``, ``crf``).

    Returns:
        tuple: the Runner and its config.
    """
    from mmengine.runner import Runner

    from sgseg.utils import load_tool_config, register_all_modules, set_num_threads
    set_num_threads(threads)
    register_all_modules(init_default_scope=False)
    cfg = load_tool_config(config, 'none', cfg_options, work_dir)
    configure_test(cfg, checkpoint, **test_options)
    runner = Runner.from_cfg(cfg)
    runner.load_checkpoint(checkpoint)
    return runner, cfg
