import json
import os
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence

import cv2
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper

from sgseg.engine.checkpoint_files import check_checkpoint_file
from sgseg.postprocess.dense_crf import crf_settings, import_densecrf


def ensure_writable_dir(path: str, what: str) -> None:
    """Creates ``path`` if needed and fails early, naming the option, if it cannot be written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise PermissionError(f'{what}: cannot create {path!r}: {err}') from err
    if not os.access(path, os.W_OK):
        raise PermissionError(f'{what}: {path!r} is not writable')


def check_out_file(path: str, what: str, image: bool = False) -> None:
    """Fails before any work is done if ``path`` cannot be written as an output file.

    Args:
        path: the output file.
        what: the option, for the message (``'--out'``).
        image: the file is an image written with OpenCV: its extension must be one
            OpenCV can write (``.png``, ``.jpg``, ...).

    Raises:
        IsADirectoryError: ``path`` is a folder (or ends with a path separator).
        ValueError: ``image`` and OpenCV has no writer for the extension.
        PermissionError: its folder cannot be created or written.
    """
    if not path:
        raise ValueError(f'{what}: empty file name')
    if osp.isdir(path) or path.endswith(('/', os.sep)):
        raise IsADirectoryError(
            f'{what}: {path!r} names a folder; give a file name in it, e.g. '
            f"{osp.join(path, 'demo.png' if image else 'results.jsonl')!r}")
    if image:
        ext = osp.splitext(path)[1]
        if not ext or not cv2.haveImageWriter(path):
            raise ValueError(f'{what}: {path!r} ' + (
                f'has an extension ({ext}) OpenCV cannot write' if ext else
                'has no extension') + '; the image format comes from it: use .png or .jpg')
    ensure_writable_dir(osp.dirname(osp.abspath(path)), what)


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
        crf: turn DenseCRF post-processing on, with the config's ``dense_crf``
            settings if it has them (fails here, with the install command, if
            pydensecrf is missing).
        scheme: inference scheme override.
        seed: slot sampling seed; by default the config's ``model.test_cfg.seed``, or
            ``randomness.seed`` when that is unset.

    Returns:
        Config: ``cfg``.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
    # a truncated, empty or foreign file: one line naming it, before anything is built
    check_checkpoint_file(checkpoint)
    cfg.load_from = checkpoint
    # the checkpoint holds every weight: the ViT's pretrained ones are not fetched
    if (cfg.model.get('backbone') or {}).get('pretrained'):
        cfg.model.backbone.pretrained = False
    # mmengine loads load_from non-strictly: refuse a checkpoint of another config;
    # and log the progress of a split shorter than the LoggerHook's interval
    hooks = list(cfg.get('custom_hooks', None) or [])
    for hook in ('CheckpointMatchHook', 'TestProgressHook'):
        if not any(h.get('type') == hook for h in hooks):
            hooks.append(dict(type=hook))
    cfg.custom_hooks = hooks
    test_cfg = cfg.model.setdefault('test_cfg', {})
    if seed is not None:
        test_cfg['seed'] = seed
    elif test_cfg.get('seed') is None:
        test_cfg['seed'] = cfg.get('randomness', {}).get('seed', 0)
    if crf:
        # fail before the model is built and the data loaded, not at the first batch
        import_densecrf()
        test_cfg['crf'] = crf_settings(cfg)
    if scheme is not None:
        test_cfg['inference_scheme'] = scheme
    if out is not None:
        check_out_file(out, '--out')
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


def runner_from_args(args, **test_options):
    """:func:`build_evaluation_runner` from an analysis tool's parsed arguments
    (``config``, ``checkpoint``, ``cfg_options``, ``work_dir``, ``threads``), its ``--out``
    table file (``args.out``, if any) checked first, before anything is built or run.

    Returns:
        tuple: the Runner and its config.
    """
    if getattr(args, 'out', None):
        check_out_file(args.out, '--out')
    return build_evaluation_runner(args.config, args.checkpoint, args.cfg_options,
                                   args.work_dir, args.threads, **test_options)


def evaluate_seeds(runner, seeds: Sequence[int], out: Optional[str] = None
                   ) -> List[Dict[str, float]]:
    """Runs the Runner's test loop once per slot sampling seed.

    Args:
        runner: a Runner built from a config prepared by :func:`configure_test`.
        seeds: values of ``model.test_cfg.seed``, one evaluation each (at least one).
        out: the ``RefSegMetric`` JSON-lines file (``configure_test(out=...)``). With
            one seed it is written as the metric writes it; with several seeds it holds
            every seed's lines, in the order of ``seeds``, each with a ``seed`` field
            first (the metric writes each seed to a temporary file beside ``out``,
            merged here on the main process).

    Returns:
        list: the metrics of each seed.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError('evaluate_seeds needs at least one seed')
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    writers = [m for m in runner.test_loop.evaluator.metrics
               if getattr(m, 'out_file', None)] if out and len(seeds) > 1 else []
    out_dir, name = osp.split(osp.abspath(out)) if out else ('', '')
    parts = []
    runs = []
    try:
        for seed in seeds:
            model.test_cfg['seed'] = seed
            if writers:
                parts.append(osp.join(out_dir, f'.{name}.seed{seed}.part'))
                for metric in writers:
                    metric.out_file = parts[-1]
            runs.append(dict(runner.test()))
        if writers and is_main_process():
            _merge_seed_files(out, seeds, parts)
    finally:
        for metric in writers:
            metric.out_file = out
        # only the main process writes (and so removes) the parts
        for part in parts if is_main_process() else []:
            if osp.exists(part):
                os.unlink(part)
    return runs


def _merge_seed_files(out: str, seeds: Sequence[int], parts: Sequence[str]) -> None:
    """Writes ``out`` (atomically): each part's JSON lines with its seed first."""
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(osp.abspath(out)), suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            for seed, part in zip(seeds, parts):
                with open(part) as lines:
                    for line in lines:
                        f.write(json.dumps(dict(seed=seed, **json.loads(line))) + '\n')
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
