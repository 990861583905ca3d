import glob
import os.path as osp
import re
from typing import Optional

from mmengine.hooks import CheckpointHook

from sgseg.engine.atomic_io import atomic_write_text
from sgseg.registry import HOOKS


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose checkpoints survive a kill or a full disk.

    Two things can leave a work dir that ``--resume`` cannot use:

    1. The checkpoint itself written in place and cut short. Here every checkpoint
       goes through the ``atomic_local`` file backend (temporary file, fsync,
       ``os.replace``; see :mod:`sgseg.engine.atomic_io`), so ``iter_N.pth`` either
       does not exist or is complete, and a failed write leaves the previous
       checkpoints untouched.
    2. The ``last_checkpoint`` pointer, which mmengine rewrites in place after each
       save: a kill in that instant leaves it empty. Before a resumed run loads
       anything, this hook checks the pointer and, if it is empty or names a file
       that is gone, points it at the newest checkpoint in the folder.

    All arguments are ``CheckpointHook``'s. ``backend_args`` defaults to
    ``dict(backend='atomic_local')``; another backend (object storage) can still be
    given and is then used as is.

    Note:
        mmengine deletes the oldest checkpoint *before* writing the new one, so with
        ``max_keep_ckpts=1`` a kill during the write leaves no checkpoint; keep at
        least 2 where runs may be killed.
    """

    def __init__(self, *args, backend_args: Optional[dict] = None, **kwargs) -> None:
        if backend_args is None:
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, backend_args=backend_args, **kwargs)

    def before_run(self, runner) -> None:
        super().before_run(runner)
        if runner._resume and runner._load_from is None:
            self.repair_pointer(runner)

    def repair_pointer(self, runner) -> Optional[str]:
        """Make ``work_dir/last_checkpoint`` name an existing checkpoint, if any exists.

        Returns:
            The checkpoint the pointer names afterwards, or None when there is none.
        """
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        current = ''
        if osp.isfile(pointer):
            with open(pointer) as f:
                current = f.read().strip()
        if current and osp.isfile(current):
            return current
        newest = self.newest_checkpoint(self.checkpoint_dir(runner))
        if newest is None:
            return None
        runner.logger.warning(
            f"'{pointer}' is {'empty' if not current else f'dangling ({current!r})'}; "
            f'resuming from the newest checkpoint found, {newest!r}')
        atomic_write_text(newest, pointer)
        return newest

    def checkpoint_dir(self, runner) -> str:
        """Where the checkpoints go: ``CheckpointHook.before_train`` sets it the same way."""
        if self.out_dir is None or self.out_dir == runner.work_dir:
            return runner.work_dir
        return osp.join(self.out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))

    def newest_checkpoint(self, folder: str) -> Optional[str]:
        """The checkpoint of ``folder`` with the highest step, by ``filename_tmpl``."""
        pattern = re.compile(re.escape(self.filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
        found = []
        for path in glob.glob(osp.join(folder, '*')):
            match = pattern.match(osp.basename(path))
            if match and osp.isfile(path):
                found.append((int(match.group(1)), path))
        return max(found)[1] if found else None
