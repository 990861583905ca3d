import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def read_scalars(work_dir: str) -> Dict[str, List[Tuple[int, float]]]:
    """Training scalars logged by mmengine (``<work_dir>/<timestamp>/vis_data/scalars.json``).

    The newest run of the work dir is read; keys are the logged names (``loss``,
    ``loss_c3``, ``lr``, ...), values (step, value) pairs in order.
    """
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir!r}: was the '
                                'model trained with a LocalVisBackend?')
    series = defaultdict(list)
    with open(runs[-1]) as f:
        for line in f:
            record = json.loads(line)
            step = record.get('step', record.get('iter'))
            for key, value in record.items():
                if key not in ('step', 'iter', 'epoch') and isinstance(value, (int, float)):
                    series[key].append((step, float(value)))
    return dict(series)


def plot_loss_curves(work_dir: str, out_file: str) -> List[str]:
    """Draws every ``loss*`` scalar against the iteration and saves a PNG.

    Returns:
        list: the keys drawn.
    """
    series = read_scalars(work_dir)
    keys = sorted(k for k in series if k.startswith('loss'))
    if not keys:
        raise KeyError(f'no loss scalars logged under {work_dir!r}')
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
