import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from prettytable import PrettyTable


def summarize_runs(runs: Sequence[Dict[str, float]]) -> Dict[str, Dict[str, float]]:
    """Mean and (population) standard deviation of each metric over several runs.

    Args:
        runs: one metrics dict per run (e.g. per evaluation seed).

    Returns:
        dict: ``{metric: {'mean': m, 'std': s}}`` for the keys common to all runs.
    """
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    return {
        k: dict(mean=float(np.mean([r[k] for r in runs])),
                std=float(np.std([r[k] for r in runs])))
        for k in keys
    }


def load_runs(paths: Sequence[str]) -> List[dict]:
    """The JSON results of several runs (one file per seed), each run counted once.

    A file given twice, under the same or another path (a link, ``a/../a``), or two
    files with the same results (a copied run) would make the spread over seeds look
    smaller than it is: both are refused.

    Args:
        paths: JSON files, one per run.

    Returns:
        list: the parsed results, in the order of ``paths``.

    Raises:
        ValueError: a run is given twice, or a file is not JSON.
    """
    runs, by_path, by_content = [], {}, {}
    for path in paths:
        real = osp.realpath(path)
        if real in by_path:
            raise ValueError(f'{path!r} is the file {by_path[real]!r} again: each run must '
                             'be counted once')
        with open(path) as f:
            try:
                run = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path!r} is not JSON ({err})') from err
        content = json.dumps(run, sort_keys=True)
        if content in by_content:
            raise ValueError(f'{path!r} holds the same results as {by_content[content]!r}: '
                             'one run counted twice (a copy?) would understate the std')
        by_path[real], by_content[content] = path, path
        runs.append(run)
    return runs


def format_table(rows: List[Dict[str, object]], title: str = '') -> str:
    """A plain-text table with one row per dict (columns from the first row)."""
    table = PrettyTable(title=title or None)
    table.field_names = list(rows[0])
    for row in rows:
        table.add_row([f'{v:.2f}' if isinstance(v, float) else v for v in row.values()])
    return table.get_string()


def format_markdown(rows: List[Dict[str, object]]) -> str:
    """A markdown table with one row per dict (columns from the first row)."""
    lines = ['| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])]
    for row in rows:
        lines.append('| ' + ' | '.join(f'{v:.2f}' if isinstance(v, float) else str(v)
                                        for v in row.values()) + ' |')
    return '\n'.join(lines) + '\n'


def report_table(rows: List[Dict[str, object]], title: str = '',
                 out: Optional[str] = None, footer: str = '') -> None:
    """Prints ``rows`` as a plain-text table and, with ``out``, writes them there as
    markdown (followed by ``footer``)."""
    print(format_table(rows, title))
    if out:
        with open(out, 'w') as f:
            f.write(format_markdown(rows) + footer)


def split_rows(results: Dict[str, Dict[str, Dict[str, float]]],
               reference: str = 'val') -> List[Dict[str, object]]:
    """One row per split: the method's own metrics, its mIoU as a share of the
    reference split's, and the text-independent baselines' mIoU on the same split.

    Args:
        results: split name -> ``evaluate_schemes`` results (``{name: metrics}``); the
            method's row is ``'fuse'`` (ShatterAndGather) or ``'own'`` (another method).
        reference: the split the others are compared with (its row shows 1.00).

    Returns:
        list[dict]: rows for :func:`report_table`.
    """
    if reference not in results:
        raise KeyError(f'no {reference!r} results among the splits {sorted(results)}')

    def own(split: str) -> Dict[str, float]:
        found = [results[split][k] for k in ('fuse', 'own') if k in results[split]]
        if not found:
            raise KeyError(f"split {split!r} has neither a 'fuse' nor an 'own' row "
                           f'(rows: {sorted(results[split])})')
        return found[0]

    ref = own(reference)['mIoU']
    rows = []
    for split, by_name in results.items():
        metrics = own(split)
        row = dict(split=split, mIoU=metrics['mIoU'], cIoU=metrics['cIoU'],
                   PointM=metrics['PointM'], **{f'x {reference}': metrics['mIoU'] / ref
                                                if ref > 0 else float('nan')})
        for baseline, label in (('whole_image', 'whole image mIoU'),
                                ('centre_ellipse', 'ellipse mIoU')):
            if baseline in by_name:
                row[label] = by_name[baseline]['mIoU']
        row['n'] = metrics['n']
        rows.append(row)
    return rows
