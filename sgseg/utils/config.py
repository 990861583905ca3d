import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config


def set_num_threads(num_threads: Optional[int]) -> None:
    """Sets torch's CPU threads; ``SGSEG_THREADS`` in the environment is the default.

    On a small shared CPU one thread can be much faster per step than two.
    """
    num_threads = num_threads or int(os.environ.get('SGSEG_THREADS', 0))
    if num_threads:
        torch.set_num_threads(num_threads)


def setup_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """mmseg's work-dir rule: the argument, then the config, then work_dirs/<config>."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def load_tool_config(config_path: str,
                     launcher: str = 'none',
                     cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None) -> Config:
    """What tools/train.py and tools/test.py do to a config before building a Runner.

    Loads the file, applies ``--cfg-options``, sets the launcher and the work dir, and
    falls back to the ``gloo`` backend when no GPU is present, so that
    ``dist_train.sh CONFIG 2`` runs two CPU processes. An unknown ``type`` anywhere in
    the config is reported here, with its key and close names
    (:func:`sgseg.engine.check_config_types`), before anything is built.
    """
    # sgseg.engine registers hooks that import models and datasets: import it late
    from sgseg.engine import check_config_types

    cfg = Config.fromfile(config_path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_config_types(cfg)
    setup_work_dir(cfg, config_path, work_dir)
    if launcher != 'none' and not torch.cuda.is_available():
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    return cfg
