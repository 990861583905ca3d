"""Compared methods side by side: each method's config trained and tested over seeds.

Each run is :func:`sgseg.apis.ablations` machinery's (``tools/train.py``, then
``tools/analysis_tools/eval_schemes.py`` for the method's own inference and the
text-free baselines on the same samples), in ``work_dir/<config name>/seed<seed>/``;
a finished run of the same config is reused.
"""
import copy
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional, Sequence

from mmengine.config import Config

from sgseg.evaluation.summary import summarize_runs
from .ablations import (ABLATION_METRICS, TEXT_FREE_BASELINES, _run_one, fit_schedule,
                        mean_std_cells, write_table)

METHOD_TABLE_METRICS = ('mIoU', 'cIoU', 'PointM')


def run_methods(configs: Sequence[str],
                work_dir: str,
                seeds: Sequence[int] = (0, ),
                max_iters: Optional[int] = None,
                cfg_options: Optional[dict] = None,
                threads: int = 1,
                jobs: int = 1,
                extra_splits: Sequence[str] = ()) -> Dict[str, Dict[str, Any]]:
    """Trains and tests every method config for every seed.

    Args:
        configs: method config files (iteration-based when ``max_iters`` is given);
            each is named by its file name.
        work_dir: output folder.
        seeds: training seeds (``randomness.seed``, and ``model.test_cfg.seed``).
        max_iters: shorten training (:func:`sgseg.apis.ablations.fit_schedule`).
        cfg_options: overrides applied to every config (e.g. the data root).
        threads: torch CPU threads of each run.
        jobs: runs at the same time.
        extra_splits: other splits of the test dataset each checkpoint is also
            evaluated on (e.g. the synthetic ``heldout_phrasing`` and
            ``heldout_scenes``).

    Returns:
        dict: ``{name: dict(config, runs, summary, splits)}`` for each method, then for
        each text-free baseline (scored on the first method's evaluation samples);
        ``splits`` maps each extra split to its ``dict(runs, summary)``.
    """
    names = [osp.splitext(osp.basename(c))[0] for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f'two method configs share a file name: {list(configs)}')
    if set(names) & set(TEXT_FREE_BASELINES):
        raise ValueError(f'a method config may not be named like a baseline '
                         f'{TEXT_FREE_BASELINES}')
    cfgs = {}
    for name, path in zip(names, configs):
        cfg = Config.fromfile(path)
        if cfg_options:
            cfg.merge_from_dict(copy.deepcopy(cfg_options))
        if max_iters is not None:
            fit_schedule(cfg, max_iters)
        cfgs[name] = cfg
    todo = [(name, seed) for name in names for seed in seeds]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {(name, seed): pool.submit(_run_one, name, seed, cfgs[name], work_dir,
                                             threads, True, f'{k + 1}/{len(todo)}',
                                             extra_splits)
                   for k, (name, seed) in enumerate(todo)}
        runs = {key: future.result() for key, future in futures.items()}

    def entry(config: Optional[str], name: str, per_seed) -> Dict[str, Any]:
        """A table row: ``per_seed(result)`` of ``name``'s runs, on the test split and
        on each extra split."""
        def collect(pick):
            metrics = [per_seed(pick(runs[name, seed])) for seed in seeds]
            return dict(runs=[dict(seed=s, **m) for s, m in zip(seeds, metrics)],
                        summary=summarize_runs(metrics))
        return dict(config=config, **collect(lambda run: run),
                    splits={split: collect(lambda run, split=split: run['splits'][split])
                            for split in extra_splits})

    results = {}
    for name, path in zip(names, configs):
        results[name] = entry(path, name, lambda run: {k: run[k] for k in ABLATION_METRICS})
    for baseline in TEXT_FREE_BASELINES:
        # text-free: scored on the first method's evaluation samples
        results[baseline] = entry(None, names[0],
                                  lambda run, baseline=baseline: run['schemes'][baseline])
    return results


def write_methods_report(results: Dict[str, Dict[str, Any]], markdown_file: str,
                         json_file: str, title: str = '') -> str:
    """Writes the table (markdown: mIoU / cIoU / PointM mean ± std on the test split,
    mIoU on each extra split) and every run (JSON).

    Returns:
        str: the markdown text.
    """
    rows = []
    for name, result in results.items():
        summary = result['summary']
        split_cells = {f'{split} mIoU': mean_std_cells(found['summary'], ('mIoU', ))['mIoU']
                       for split, found in result.get('splits', {}).items()}
        rows.append(dict(method=name,
                         **mean_std_cells(summary, METHOD_TABLE_METRICS),
                         **split_cells,
                         seeds=','.join(str(r['seed']) for r in result['runs'])))
    return write_table(rows, results, markdown_file, json_file, title)
