import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from sgseg.evaluation.summary import summarize_runs  # noqa: E402


def _read_scalar_file(path: str) -> Dict[str, List[Tuple[int, float]]]:
    """The scalars of one ``scalars.json``; a truncated last line (a killed run) is skipped."""
    series = defaultdict(list)
    with open(path) as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):
                break  # the run was killed while writing this line
            raise ValueError(f'{path}:{number}: not a JSON record ({err})') from err
        step = record.get('step', record.get('iter'))
        for key, value in record.items():
            if key not in ('step', 'iter', 'epoch') and isinstance(value, (int, float)):
                series[key].append((step, float(value)))
    return dict(series)


def read_scalars(work_dir: str,
                 prefix: Optional[str] = None) -> Dict[str, List[Tuple[int, float]]]:
    """Scalars logged by mmengine (``<work_dir>/<timestamp>/vis_data/scalars.json``).

    The newest run of the work dir is read or, with ``prefix``, the newest run that
    logged a scalar whose name starts with it (``'loss'`` skips the runs of
    ``tools/test.py``, which log metrics only). Keys are the logged names (``loss``,
    ``loss_c3``, ``lr``, ...), values (step, value) pairs in order.

    Raises:
        FileNotFoundError: no run under ``work_dir`` logged any scalar.
        ValueError: ``prefix`` is given and no run logged a matching scalar.
    """
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {work_dir!r}: no run of this work dir has '
            'logged anything yet (a run logs every default_hooks.logger.interval '
            'iterations), or it was trained without a LocalVisBackend')
    for path in reversed(runs):
        series = _read_scalar_file(path)
        if prefix is None or any(k.startswith(prefix) for k in series):
            return series
    logged = sorted({k for path in runs for k in _read_scalar_file(path)})
    raise ValueError(
        f'no {prefix!r} scalar logged under {work_dir!r} ({len(runs)} run(s), logging '
        f'{logged or "nothing"}): training logs its loss every '
        'default_hooks.logger.interval iterations, so a run stopped before the first '
        'interval logs none')


def plot_loss_curves(work_dir: str, out_file: str) -> List[str]:
    """Draws every ``loss*`` scalar of the newest training run against the iteration.

    Returns:
        list: the keys drawn.

    Raises:
        FileNotFoundError, ValueError: no run of ``work_dir`` logged a loss (see
            :func:`read_scalars`).
    """
    series = read_scalars(work_dir, prefix='loss')
    keys = sorted(k for k in series if k.startswith('loss'))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for key in keys:
        steps, values = zip(*series[key])
        ax.plot(steps, values, label=key, linewidth=1.2)
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss')
    ax.set_title(osp.basename(osp.normpath(work_dir)))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return keys


def plot_grouped_curves(groups: Dict[str, List[str]], keys: Sequence[str],
                        out_file: str) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """Curves of several groups of runs (e.g. one setting over seeds) on shared axes.

    One panel per key; per group, the mean over its runs at each logged step that all
    of them logged, and a band from the lowest to the highest run. A key logged once
    per run (a final validation metric) is drawn per group instead: each run a dot,
    the mean a bar.

    Args:
        groups: name -> work dirs of its runs (the newest training run of each is read,
            as :func:`read_scalars` with ``prefix='loss'``).
        keys: scalars to draw (``loss_recon``, ``loss_c3``, ``mIoU``, ...).
        out_file: PNG path.

    Returns:
        dict: per group, per key, mean and population std over its runs of the key's
        last logged value.

    Raises:
        ValueError: a run did not log a key, or the runs of a group share no step.
    """
    series = {name: [(d, read_scalars(d, prefix='loss')) for d in dirs]
              for name, dirs in groups.items()}
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), dpi=110,
                             squeeze=False)
    last: Dict[str, List[Dict[str, float]]] = {
        name: [{} for _ in runs] for name, runs in series.items()}
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for ax, key in zip(axes[0], keys):
        curves = {}
        for name, runs in series.items():
            by_step = []
            for work_dir, scalars in runs:
                if key not in scalars:
                    raise ValueError(f'{work_dir!r} logged no {key!r} (it logged '
                                     f'{", ".join(sorted(scalars))})')
                by_step.append(dict(scalars[key]))
            steps = sorted(set.intersection(*(set(s) for s in by_step)))
            if not steps:
                raise ValueError(f'the runs of {name!r} share no logged step of {key!r}')
            curves[name] = steps, [[run[step] for run in by_step] for step in steps]
            for values, run in zip(last[name], by_step):
                values[key] = run[max(run)]
        once = all(len(steps) == 1 for steps, _ in curves.values())
        for i, (name, (steps, rows)) in enumerate(curves.items()):
            colour = colours[i % len(colours)]
            mean = [sum(r) / len(r) for r in rows]
            if once:  # one value per run: the runs as dots, their mean as a bar
                ax.bar(i, mean[0], width=0.6, color=colour, alpha=0.35)
                ax.plot([i] * len(rows[0]), rows[0], 'o', color=colour)
                continue
            ax.plot(steps, mean, label=f'{name} ({len(rows[0])})', color=colour,
                    linewidth=1.2)
            ax.fill_between(steps, [min(r) for r in rows], [max(r) for r in rows],
                            color=colour, alpha=0.2, linewidth=0)
        if once:
            ax.set_xticks(range(len(curves)))
            ax.set_xticklabels([f'{n} ({len(r[0])})' for n, (_, r) in curves.items()])
            at = sorted({steps[0] for steps, _ in curves.values()})
            ax.set_title(f'{key}, iteration {", ".join(map(str, at))}')
        else:
            ax.set_xlabel('iteration')
            ax.set_title(key)
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return {name: {k: (v['mean'], v['std']) for k, v in summarize_runs(runs).items()}
            for name, runs in last.items()}
