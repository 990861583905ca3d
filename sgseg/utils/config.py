import os
import os.path as osp
import subprocess
from typing import Optional

import torch
import torch.distributed as dist
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
    falls back to the ``gloo`` backend when no GPU is present (process group started
    here, DDP without ``device_ids``), so that ``dist_train.sh CONFIG 2`` runs two CPU
    processes. An unknown ``type`` anywhere in
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
        init_cpu_distributed(launcher, cfg.env_cfg.get('dist_cfg', {}))
        # mmengine gives DDP device_ids=[LOCAL_RANK], which DDP refuses for a CPU model
        wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                       find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper.update(cfg.get('model_wrapper_cfg', None) or {})
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
    return cfg


def slurm_to_torch_env() -> None:
    """Sets the torch.distributed variables from Slurm's, as mmengine's slurm init does.

    ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from ``SLURM_PROCID``/``SLURM_NTASKS``/
    ``SLURM_LOCALID``, ``MASTER_ADDR`` the first host of ``SLURM_NODELIST`` (through
    ``scontrol``), ``MASTER_PORT`` 29500 unless set. Variables already set are kept.
    """
    env = os.environ
    env.setdefault('RANK', env['SLURM_PROCID'])
    env.setdefault('WORLD_SIZE', env['SLURM_NTASKS'])
    env.setdefault('LOCAL_RANK', env.get('SLURM_LOCALID', '0'))
    env.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in env:
        nodes = env['SLURM_NODELIST']
        try:
            first = subprocess.run(['scontrol', 'show', 'hostnames', nodes],
                                   capture_output=True, text=True).stdout.split()
        except OSError:  # no scontrol: a plain host list such as 'localhost'
            first = []
        env['MASTER_ADDR'] = first[0] if first else nodes.split(',')[0]


def init_cpu_distributed(launcher: str, dist_cfg: dict) -> None:
    """Starts a ``gloo`` process group for a launcher on a machine without GPUs.

    mmengine's ``init_dist`` always calls ``torch.cuda.set_device`` for the
    ``pytorch`` and ``slurm`` launchers, which fails without a GPU; the Runner skips
    ``init_dist`` when a process group already exists, so starting it here is enough
    for ``dist_train.sh CONFIG 2`` / ``slurm_train.sh`` to run CPU processes.

    Args:
        launcher: ``'pytorch'`` (torchrun's variables) or ``'slurm'``; ``'mpi'`` is
            left to mmengine.
        dist_cfg: ``env_cfg.dist_cfg`` (``backend`` is ignored: gloo; ``timeout`` in
            seconds is used if given).
    """
    if launcher not in ('pytorch', 'slurm') or dist.is_initialized():
        return
    if launcher == 'slurm':
        slurm_to_torch_env()
    kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
    if 'timeout' in kwargs:
        import datetime
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    dist.init_process_group(backend='gloo', **kwargs)


def close_distributed() -> None:
    """Ends the process group, if any, once a tool's work is done.

    A gloo group left open at interpreter exit can abort the process
    ("terminate called without an active exception") after the work and its
    checkpoints are complete, which torchrun then reports as a failed job.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
