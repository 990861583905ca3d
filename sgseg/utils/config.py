import logging
import os
import os.path as osp
import subprocess
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

# The optimizer wrappers that have an AMP twin, for `amp` in a config.
AMP_WRAPPERS = {
    'OptimWrapper': 'AmpOptimWrapper',
    'NonFiniteGuardOptimWrapper': 'NonFiniteGuardAmpOptimWrapper',
}
AMP_MODES = (False, True, 'auto', 'fp16', 'bf16')


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
    (:func:`sgseg.engine.check_config_types`), and so is an unknown key or a value of
    the wrong type (:func:`sgseg.engine.check_config_values`), before anything is built.
    """
    # sgseg.engine registers hooks that import models and datasets: import it late
    from sgseg.engine import check_config_types, check_config_values

    cfg = Config.fromfile(config_path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_config_types(cfg)
    check_config_values(cfg)
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


def launcher_world_size(launcher: str) -> int:
    """The number of training processes a launcher starts, before the Runner exists.

    An existing process group (the CPU fallback of :func:`load_tool_config`) answers
    directly; otherwise torchrun's ``WORLD_SIZE``, Slurm's ``SLURM_NTASKS`` or Open
    MPI's ``OMPI_COMM_WORLD_SIZE`` does, and ``'none'`` means one process.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    variable = dict(pytorch='WORLD_SIZE', slurm='SLURM_NTASKS',
                    mpi='OMPI_COMM_WORLD_SIZE').get(launcher)
    return int(os.environ.get(variable, 1)) if variable else 1


def apply_amp(cfg: Config, force: bool = False, cuda: Optional[bool] = None) -> Optional[str]:
    """Switches the optimizer wrapper to mixed precision as the config's ``amp`` asks.

    ``amp`` is ``False`` (default), ``True``/``'fp16'``/``'bf16'``, or ``'auto'``: on
    with CUDA (bf16 where the GPU supports it, else fp16 with a dynamic loss scale),
    off on the CPU, so one recipe runs unedited on both. Under AMP mmengine unscales
    the gradients before clipping them, as the authors' scripts do.

    Args:
        cfg: the config (changed in place).
        force: ``tools/train.py --amp``: AMP on whatever the config says.
        cuda: whether CUDA is available (default: ask torch).

    Raises:
        RuntimeError: AMP is asked for (``--amp``, ``amp=True``, ``'fp16'`` or
            ``'bf16'``) on a machine without CUDA.

    Returns:
        str or None: the autocast dtype chosen, or None when AMP is off.
    """
    mode = True if force else cfg.get('amp', False)
    if mode not in AMP_MODES:
        raise ValueError(f'config key amp must be one of {AMP_MODES}, got {mode!r}')
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if mode is False or (mode == 'auto' and not cuda):
        if mode == 'auto':
            print_log("amp='auto': no CUDA device, training in float32", 'current')
        return None
    if not cuda:
        # mmengine's AmpOptimWrapper would fail only once the Runner builds it, after
        # the model and the data: say it now, with what to do instead
        raise RuntimeError(
            f"{'--amp' if force else f'config key amp={mode!r}'}: automatic mixed "
            "precision needs a GPU (mmengine's AmpOptimWrapper trains on CUDA devices) and "
            "torch finds none on this machine; train in float32 on the CPU without --amp, "
            "or with amp='auto', which is on only where CUDA is")
    if mode == 'bf16' or (mode in (True, 'auto') and cuda and torch.cuda.is_bf16_supported()):
        dtype = 'bfloat16'
    else:
        dtype = 'float16'
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind in AMP_WRAPPERS:
        wrapper.type = AMP_WRAPPERS[kind]
    elif kind not in AMP_WRAPPERS.values():
        raise ValueError(f'amp={mode!r}: optim_wrapper.type {kind!r} has no AMP variant; use '
                         f'one of {sorted(AMP_WRAPPERS)} or an AmpOptimWrapper subclass')
    wrapper.dtype = dtype
    wrapper.setdefault('loss_scale', 'dynamic')
    print_log(f'mixed precision on: autocast to {dtype}, {wrapper.type}', 'current')
    return dtype


def apply_global_batch(cfg: Config, world_size: int,
                       cfg_options: Optional[dict] = None) -> None:
    """Splits the config's ``global_batch_size`` over ``world_size`` processes.

    A config with ``global_batch_size`` (the recipes: the paper's 32) fixes the batch
    of one optimizer step, whatever the number of processes: each takes
    ``global_batch_size / world_size`` samples (``train_dataloader.batch_size``), and
    with ``model.train_cfg.gather_negatives`` C^3 contrasts every sentence with the
    images of all processes, so the loss is the single-process loss of the global
    batch. A global batch other than ``auto_scale_lr.base_batch_size`` turns
    ``auto_scale_lr`` on (linear lr scaling) and logs that C^3's negative pool changed.
    A config without the key is left alone.

    Args:
        cfg: the config (changed in place).
        world_size: the number of training processes.
        cfg_options: the ``--cfg-options`` given, to refuse a per-process batch.
    """
    if cfg.get('global_batch_size') is None:
        return
    total = cfg.global_batch_size
    if cfg_options and 'train_dataloader.batch_size' in cfg_options:
        raise ValueError(
            f'this config fixes the global batch (global_batch_size={total}) and derives '
            'the per-process batch from it: set --cfg-options global_batch_size=N instead '
            'of train_dataloader.batch_size')
    if total < 1 or total % world_size:
        raise ValueError(f'global_batch_size ({total}) must be a positive multiple of the '
                         f'number of processes ({world_size})')
    per_process = total // world_size
    cfg.train_dataloader.batch_size = per_process
    gather = (cfg.get('model', {}).get('train_cfg') or {}).get('gather_negatives', False)
    pool = total if (gather or world_size == 1) else per_process
    print_log(f'global batch {total} = {world_size} process(es) x {per_process}; C3 '
              f'contrasts each sentence with {pool} images', 'current')
    if world_size > 1 and not gather:
        print_log(f'model.train_cfg.gather_negatives is off: each process contrasts its '
                  f'sentences with its own {per_process} images only, not the '
                  f'{total} of the global batch', 'current', level=logging.WARNING)
    scale = cfg.setdefault('auto_scale_lr', dict(enable=False, base_batch_size=total))
    base = scale.get('base_batch_size', total)
    if total != base:
        scale['enable'] = True
        print_log(f'global_batch_size {total} differs from the recipe\'s {base}: the lr is '
                  f'scaled by {total}/{base} (auto_scale_lr), and C3\'s negative pool is now '
                  f'{pool} images per sentence instead of {base}, so the loss is not the '
                  "paper's", 'current', level=logging.WARNING)


def prepare_train_config(cfg: Config, launcher: str = 'none', amp: bool = False,
                         cfg_options: Optional[dict] = None) -> None:
    """What tools/train.py does after :func:`load_tool_config`: AMP and the batch split.

    Args:
        cfg: the loaded config (changed in place).
        launcher: the job launcher, for the number of processes.
        amp: ``--amp`` was given.
        cfg_options: the ``--cfg-options`` given.
    """
    apply_amp(cfg, force=amp)
    apply_global_batch(cfg, launcher_world_size(launcher), cfg_options)
