"""The paper's ablations as config diffs, replayed on another base config.

Every ablation config under ``configs/ablations/`` inherits a recipe and changes a few
keys; :func:`paper_ablations` recovers exactly those keys (the diff of the model and
the DDP wrapper settings), and :func:`ablated_config` applies them to any base, e.g.
the CPU-sized synthetic config, so an ablation on the synthetic benchmark is the very
change the paper config makes. :func:`run_ablations` trains and evaluates each one
for several seeds with ``tools/train.py`` and ``tools/test.py``.
"""
import copy
import glob
import json
import logging
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.logging import print_log

from sgseg.evaluation.summary import format_markdown, summarize_runs

ABLATION_METRICS = ('mIoU', 'cIoU', 'Acc@0.3', 'Acc@0.5', 'Acc@0.7', 'PointM')
# Keys an ablation may change; datasets, schedules and runtime belong to the base.
DIFF_KEYS = ('model', 'model_wrapper_cfg')
TEXT_FREE_BASELINES = ('whole_image', 'centre_ellipse')
# The row of eval_schemes.py that is the model's own inference: ShatterAndGather's
# 'fuse', another method's 'own'.
OWN_ROWS = ('fuse', 'own')
# An ablation config may list dotted keys it sets whole, not only where they differ from
# its recipe: a slot-count ablation fixes K_g and K_s together, even where one of them
# equals the recipe's, so that on another base it still means K_g x K_s slots.
WHOLE_KEYS_VAR = 'ablation_set_whole'
# Shortest phase of a schedule scaled by fit_schedule (a LinearLR warm-up needs two
# iterations to go from its start factor to its end factor).
MIN_PHASE_ITERS = 2
_MISSING = object()


def config_diff(base: dict, other: dict, prefix: str = '') -> Dict[str, Any]:
    """Dotted keys whose value in ``other`` differs from ``base``.

    Nested dicts of the same component (same ``type``, no key removed) are compared
    key by key; a dict that swaps the component (another ``type``, or fewer keys, as
    ``_delete_=True`` gives) or replaces a non-dict is one entry, to be set whole.

    Args:
        base: a plain dict (e.g. ``Config.to_dict()`` of a recipe).
        other: a plain dict (e.g. of an ablation config).
        prefix: prepended to every key.

    Returns:
        dict: ``{'model.entity_discovery.num_iters': 2, ...}``.
    """
    diff = {}
    for key in sorted(set(base) | set(other), key=str):
        a, b = base.get(key, _MISSING), other.get(key, _MISSING)
        path = f'{prefix}{key}'
        if b is _MISSING:
            raise ValueError(f'{path} is removed in the ablation: replace its parent '
                             'instead (an ablation only sets keys)')
        same_component = (isinstance(a, dict) and isinstance(b, dict)
                          and a.get('type') == b.get('type') and set(a) <= set(b))
        if same_component:
            diff.update(config_diff(a, b, f'{path}.'))
        elif a is _MISSING or a != b:
            diff[path] = copy.deepcopy(b)
    return diff


def _recipe_of(ablation: str, config_dir: str) -> str:
    """The recipe an ablation file is named after: configs/<recipe>_<what>.py."""
    stem = osp.splitext(osp.basename(ablation))[0]
    recipes = sorted((osp.splitext(osp.basename(p))[0]
                      for p in glob.glob(osp.join(config_dir, '*.py'))), key=len, reverse=True)
    for recipe in recipes:
        if stem.startswith(recipe + '_'):
            return osp.join(config_dir, recipe + '.py')
    raise ValueError(f'{ablation}: its name must start with a recipe of {config_dir}/ '
                     'followed by "_" (e.g. sg_vits16_refcoco_slots-query-12.py)')


def paper_ablations(config_dir: str = 'configs') -> Dict[str, Dict[str, Any]]:
    """Every ablation config of ``config_dir/ablations`` as overrides of its recipe.

    The overrides are the keys where the ablation differs from its recipe, and every
    key the file lists in ``ablation_set_whole`` (set whole, whatever its recipe has).

    Args:
        config_dir: the folder holding the recipes and ``ablations/``.

    Returns:
        dict: ``{name: dict(config, recipe, overrides)}`` where ``name`` is the file
        name after the recipe's (``slots-query-12``), sorted by name.
    """
    ablations = {}
    for path in sorted(glob.glob(osp.join(config_dir, 'ablations', '*.py'))):
        recipe = _recipe_of(path, config_dir)
        recipe_stem = osp.splitext(osp.basename(recipe))[0]
        name = osp.splitext(osp.basename(path))[0][len(recipe_stem) + 1:]
        if name in ablations:
            raise ValueError(f'two ablations are named {name!r}: '
                             f"{ablations[name]['config']} and {path}")
        base, ablated = Config.fromfile(recipe).to_dict(), Config.fromfile(path).to_dict()
        overrides = config_diff({k: base[k] for k in DIFF_KEYS if k in base},
                                {k: ablated[k] for k in DIFF_KEYS if k in ablated})
        for key in ablated.get(WHOLE_KEYS_VAR, []):
            # the ablation varies this component as a whole (e.g. K_g and K_s together)
            overrides = {k: v for k, v in overrides.items()
                         if k != key and not k.startswith(key + '.')}
            try:
                overrides[key] = copy.deepcopy(cfg_get(ablated, key))
            except (KeyError, TypeError):
                raise KeyError(f'{path}: {WHOLE_KEYS_VAR} names {key!r}, which the '
                               'config does not have') from None
        overrides = dict(sorted(overrides.items()))
        ablations[name] = dict(config=path, recipe=recipe, overrides=overrides)
    return dict(sorted(ablations.items()))


def ablated_config(base: Config, overrides: Dict[str, Any],
                   fallback: Optional[dict] = None) -> Tuple[Config, Dict[str, Any]]:
    """A copy of ``base`` with ``overrides`` set (each value replaces the old whole).

    A key whose parent is None or absent in ``base`` (e.g. a reconstruction-decoder
    option on a base trained without reconstruction) takes that parent from
    ``fallback`` (the ablation's recipe) first, so the change is still applied; the
    returned overrides then name the whole parent, which makes this visible.

    Args:
        base: the config to ablate.
        overrides: dotted keys and values, from :func:`paper_ablations`.
        fallback: plain dict to take missing parents from.

    Returns:
        tuple: the ablated config and the overrides actually applied.
    """
    cfg = copy.deepcopy(base.to_dict())
    applied_keys = []
    for key, value in overrides.items():
        parts = key.split('.')
        node, source, filled = cfg, fallback or {}, None
        for depth, part in enumerate(parts[:-1]):
            source = source.get(part) if isinstance(source, dict) else None
            if not isinstance(node.get(part), dict):
                if not isinstance(source, dict):
                    raise KeyError(f'cannot set {key}: {".".join(parts[:depth + 1])} is '
                                   'not a dict in the base config nor in the fallback')
                node[part] = copy.deepcopy(source)
                filled = filled or '.'.join(parts[:depth + 1])
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)
        applied_keys.append(filled or key)
    applied = {key: copy.deepcopy(cfg_get(cfg, key)) for key in applied_keys}
    return Config(cfg), applied


def cfg_get(cfg: dict, key: str) -> Any:
    """``cfg['a']['b']`` for ``key='a.b'``."""
    for part in key.split('.'):
        cfg = cfg[part]
    return cfg


def fit_schedule(cfg: Config, max_iters: int) -> None:
    """Shortens an iteration-based config to ``max_iters`` (in place).

    Schedulers ending at the old ``max_iters`` end at the new one (cosine ``T_max``
    follows), validation during training is dropped (the test split is evaluated
    after) and one checkpoint is written, at the end. When the new length cuts into an
    earlier phase of the schedule (``max_iters`` at or below the end of the warm-up),
    the whole schedule is scaled by ``max_iters / old`` instead, each phase kept at
    least :data:`MIN_PHASE_ITERS` iterations long (mmengine's ``LinearLR`` reaches its
    end factor on its last iteration, so a 1-iteration warm-up would never reach the
    base lr), and a warning says so: the synthetic config's 100-iteration warm-up
    becomes 3 iterations of a 50-iteration run.

    Raises:
        ValueError: the config is not iteration-based, or ``max_iters`` cannot hold the
            phases of a schedule that has to be scaled.
    """
    old = cfg.train_cfg.get('max_iters')
    if old is None:
        raise ValueError('run_ablations needs an iteration-based base config '
                         '(train_cfg.max_iters), like configs/sg_vittiny_synthetic.py')
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    schedulers = cfg.get('param_scheduler', None) or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    # a boundary of an earlier phase that the shortened run does not get past
    cut = [s for s in schedulers if s.get('end') != old
           and max(s.get('begin', 0), s.get('end', 0)) >= max_iters]
    if cut:
        points = sorted({0, old} | {min(s.get(k, old if k == 'end' else 0), old)
                                    for s in schedulers for k in ('begin', 'end')})
        phases = len(points) - 1
        if max_iters < MIN_PHASE_ITERS * phases:
            raise ValueError(
                f'max_iters={max_iters} cannot hold the {phases} phases of param_scheduler '
                f'({MIN_PHASE_ITERS} iterations each at least): give --max-iters >= '
                f'{MIN_PHASE_ITERS * phases}')
        scaled = {}
        for i, point in enumerate(points):
            low = scaled[points[i - 1]] + MIN_PHASE_ITERS if i else 0
            high = max_iters - MIN_PHASE_ITERS * (phases - i)
            scaled[point] = min(max(round(point * max_iters / old), low), high)
        print_log(f'max_iters={max_iters} ends inside the schedule phase(s) '
                  + ', '.join(f"{s['type']} [{s.get('begin', 0)}, {s.get('end')})" for s in cut)
                  + f': the schedule is scaled by {max_iters}/{old}', 'current',
                  logging.WARNING)
        for scheduler in schedulers:
            scheduler.update(begin=scaled[min(scheduler.get('begin', 0), old)],
                             end=scaled[min(scheduler.get('end', old), old)])
            if 'T_max' in scheduler:
                scheduler['T_max'] = scheduler['end'] - scheduler['begin']
    else:
        for scheduler in schedulers:
            if scheduler.get('end') == old:
                scheduler['end'] = max_iters
                if 'T_max' in scheduler:
                    scheduler['T_max'] = max_iters - scheduler.get('begin', 0)
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters + 1)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.update(by_epoch=False, interval=max_iters, save_best=None)


def _run_tool(args: List[str], threads: int, log_file: str) -> None:
    """Runs a tools/ script in the repository, its output appended to ``log_file``."""
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, SGSEG_THREADS=str(threads))
    with open(log_file, 'a') as log:
        proc = subprocess.run([sys.executable, *args], cwd=root, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    if proc.returncode:
        raise RuntimeError(f'{" ".join(args)} failed (exit {proc.returncode}); see {log_file}')


def _test_metrics(test_dir: str) -> Dict[str, float]:
    """The metrics mmengine's LoggerHook wrote for the test run in ``test_dir``."""
    files = sorted(glob.glob(osp.join(test_dir, '*', '*.json')))
    if not files:
        raise FileNotFoundError(f'no test metrics (*/<timestamp>.json) under {test_dir}')
    with open(files[-1]) as f:
        metrics = json.load(f)
    missing = [k for k in ABLATION_METRICS if metrics.get(k) is None]
    if missing:
        raise KeyError(f'{files[-1]} has no {missing}: is the test evaluator RefSegMetric?')
    return {k: float(metrics[k]) for k in ABLATION_METRICS}


def _evaluate(run_dir: str, config_file: str, checkpoint: str, threads: int, log: str,
              schemes: bool, split: Optional[str] = None) -> Dict[str, Any]:
    """Tests a checkpoint on the config's test split (or ``split`` of its dataset):
    ``tools/test.py``, or ``eval_schemes.py`` when ``schemes`` (then with the scheme
    rows under ``'schemes'``)."""
    suffix = '' if split is None else f'_{split}'
    test_dir = osp.join(run_dir, f'test{suffix}')
    options = [] if split is None else ['--cfg-options', f'test_dataloader.dataset.split={split}']
    if not schemes:
        _run_tool(['tools/test.py', config_file, checkpoint, '--work-dir', test_dir,
                   *options], threads, log)
        return _test_metrics(test_dir)
    table = osp.join(run_dir, f'schemes{suffix}.md')
    _run_tool(['tools/analysis_tools/eval_schemes.py', config_file, checkpoint,
               '--work-dir', test_dir, '--out', table, *options], threads, log)
    with open(osp.splitext(table)[0] + '.json') as f:
        by_scheme = json.load(f)
    own = next(by_scheme[row] for row in OWN_ROWS if row in by_scheme)
    return dict(**{k: float(own[k]) for k in ABLATION_METRICS},
                schemes={s: {k: float(m[k]) for k in ABLATION_METRICS}
                         for s, m in by_scheme.items()})


def _run_one(name: str, seed: int, cfg: Config, work_dir: str, threads: int,
             schemes: bool, position: str = '',
             extra_splits: Sequence[str] = ()) -> Dict[str, Any]:
    """Trains and tests one (ablation, seed) in ``work_dir/<name>/seed<seed>/``.

    The checkpoint is tested on the config's test split, then on each of
    ``extra_splits`` (other splits of the same dataset, e.g. the synthetic held-out
    ones: ``result['splits'][split]``). A run whose ``result.json`` was written for the
    very same config and splits is not repeated: an interrupted sweep restarts where it
    stopped. ``position`` (``'3/8'``) starts the progress lines logged when the run
    starts and ends.
    """
    run_dir = osp.join(work_dir, name, f'seed{seed}')
    os.makedirs(run_dir, exist_ok=True)
    cfg = copy.deepcopy(cfg)
    cfg.randomness = dict(seed=seed)
    cfg.model.setdefault('test_cfg', {})['seed'] = seed
    config_text = cfg.pretty_text
    result_file = osp.join(run_dir, 'result.json')
    config_file = osp.join(run_dir, 'config.py')
    log = osp.join(run_dir, 'run.log')
    start = time.monotonic()
    result = None
    if osp.isfile(result_file):
        with open(result_file) as f:
            done = json.load(f)
        if done.get('config') == config_text and (done.get('schemes') or not schemes):
            result = done['result']
            # splits added to a run are evaluated as its result was (with the schemes
            # rows when it has them), so its record keeps saying what it holds
            schemes = bool(done.get('schemes'))
    missing = [s for s in extra_splits if s not in (result or {}).get('splits', {})]
    if result is not None and not missing:
        print_log(f'ablations [{position}] {name} seed {seed}: finished before, '
                  f'reusing {result_file}', 'current')
        return result
    if result is None:
        cfg.dump(config_file)
        print_log(f'ablations [{position}] {name} seed {seed}: training and testing '
                  f'(log: {log})', 'current')
        _run_tool(['tools/train.py', config_file, '--work-dir', run_dir], threads, log)
    else:
        print_log(f'ablations [{position}] {name} seed {seed}: trained before, testing '
                  f'on {", ".join(missing)} (log: {log})', 'current')
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    if result is None:
        result = dict(seed=seed, **_evaluate(run_dir, config_file, checkpoint, threads, log,
                                             schemes))
    for split in missing:
        result.setdefault('splits', {})[split] = _evaluate(
            run_dir, config_file, checkpoint, threads, log, schemes, split)
    tmp = result_file + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(dict(config=config_text, schemes=schemes, result=result), f, indent=1)
    os.replace(tmp, result_file)
    print_log(f'ablations [{position}] {name} seed {seed}: done in '
              f'{time.monotonic() - start:.0f} s, mIoU {result["mIoU"]:.2f}', 'current')
    return result


def run_ablations(names: Sequence[str],
                  base_config: str,
                  work_dir: str,
                  seeds: Sequence[int] = (0,),
                  max_iters: Optional[int] = None,
                  config_dir: str = 'configs',
                  cfg_options: Optional[dict] = None,
                  threads: int = 1,
                  jobs: int = 1,
                  schemes: bool = False) -> Dict[str, Dict[str, Any]]:
    """Trains and tests each ablation of ``names`` on ``base_config`` for every seed.

    ``'baseline'`` is the base config itself; any other name is a paper ablation
    (:func:`paper_ablations`). Each run trains with ``randomness.seed`` and evaluates
    with the slot seed ``model.test_cfg.seed`` set to the same seed, in
    ``work_dir/<name>/seed<seed>/`` (config, log, checkpoint, test metrics,
    ``result.json``); a finished run of the same config is reused.

    Args:
        names: ablations to run.
        base_config: the config each ablation is applied to.
        work_dir: output folder.
        seeds: training (and slot sampling) seeds.
        max_iters: shorten training (see :func:`fit_schedule`); None keeps the base's.
        config_dir: where the recipes and ``ablations/`` live.
        cfg_options: overrides of the base config for every run.
        threads: torch CPU threads of each run.
        jobs: runs trained at the same time (each with ``threads`` threads).
        schemes: also evaluate every inference scheme of Table 4b and the trivial
            baselines (``tools/analysis_tools/eval_schemes.py``); they are reported as
            extra entries ``'<name> [<scheme>]'``.

    Returns:
        dict: ``{name: dict(overrides, runs, summary)}``: the applied overrides, the
        metrics of each seed and their mean / std (:func:`summarize_runs`).
    """
    available = paper_ablations(config_dir)
    unknown = [n for n in names if n != 'baseline' and n not in available]
    if unknown:
        raise KeyError(f'unknown ablations {unknown}; choose among baseline, '
                       f'{", ".join(available)}')
    model_free = [n for n in names if n != 'baseline' and not available[n]['overrides']]
    if model_free:
        raise ValueError(f'ablations {model_free} change no model key (a schedule ablation): '
                         f'replayed on {base_config} they would train the base unchanged; '
                         'train their configs directly')
    base = Config.fromfile(base_config)
    if cfg_options:
        base.merge_from_dict(cfg_options)
    configs = {}
    for name in names:
        if name == 'baseline':
            cfg, applied = copy.deepcopy(base), {}
        else:
            recipe = Config.fromfile(available[name]['recipe']).to_dict()
            cfg, applied = ablated_config(base, available[name]['overrides'], recipe)
        if max_iters is not None:
            fit_schedule(cfg, max_iters)
        configs[name] = (cfg, applied)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        todo = [(name, seed) for name in names for seed in seeds]
        futures = {(name, seed): pool.submit(_run_one, name, seed, configs[name][0],
                                             work_dir, threads, schemes,
                                             f'{k + 1}/{len(todo)}')
                   for k, (name, seed) in enumerate(todo)}
        runs = {key: future.result() for key, future in futures.items()}
    results = {}
    for name in names:
        name_runs = [runs[(name, seed)] for seed in seeds]
        entries = [(name, [{k: r[k] for k in ABLATION_METRICS} for r in name_runs])]
        if schemes:
            # The text-independent baselines do not depend on the model: listed once.
            entries += [(f'{name} [{scheme}]', [r['schemes'][scheme] for r in name_runs])
                        for scheme in name_runs[0]['schemes'] if scheme not in OWN_ROWS
                        and (scheme not in TEXT_FREE_BASELINES or name == names[0])]
        for entry, metrics in entries:
            results[entry] = dict(
                overrides=configs[name][1],
                runs=[dict(seed=seed, **m) for seed, m in zip(seeds, metrics)],
                summary=summarize_runs(metrics))
    return results


def write_report(results: Dict[str, Dict[str, Any]], markdown_file: str,
                 json_file: str, title: str = '') -> str:
    """Writes the mean ± std table (markdown) and the raw results (JSON).

    Returns:
        str: the markdown text.
    """
    rows = []
    for name, result in results.items():
        summary = result['summary']
        rows.append(dict(
            ablation=name,
            changes='; '.join(f'`{k}={v!r}`' for k, v in result['overrides'].items()) or '—',
            **mean_std_cells(summary, ABLATION_METRICS),
            seeds=','.join(str(r['seed']) for r in result['runs'])))
    return write_table(rows, results, markdown_file, json_file, title)


def mean_std_cells(summary: Dict[str, Dict[str, float]],
                   metrics: Sequence[str]) -> Dict[str, str]:
    """``{metric: 'mean ± std'}`` (two decimals) of a :func:`summarize_runs` summary."""
    return {m: f"{summary[m]['mean']:.2f} ± {summary[m]['std']:.2f}" for m in metrics}


def write_table(rows: List[Dict[str, Any]], results: Dict[str, Any], markdown_file: str,
                json_file: str, title: str = '') -> str:
    """Writes ``rows`` as a markdown table (under ``title``) and ``results`` as JSON.

    Returns:
        str: the markdown text.
    """
    text = (f'# {title}\n\n' if title else '') + format_markdown(rows)
    for path in (markdown_file, json_file):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(markdown_file, 'w') as f:
        f.write(text)
    with open(json_file, 'w') as f:
        json.dump(results, f, indent=2)
    return text
