import glob
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.hooks import CheckpointHook

from sgseg.engine.atomic_io import atomic_write_text
from sgseg.engine.checkpoint_files import (CheckpointFileError, check_checkpoint_file,
                                           checkpoint_file_problem)
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
    2. The ``last_checkpoint`` pointer, which mmengine rewrites after each save and
       reads as an absolute path on ``--resume``. Before a resumed run loads
       anything, this hook chooses the checkpoint itself (:meth:`resolve_resume`):
       the pointer's file in *this* work dir (a copied work dir resumes from its own
       checkpoints), else the newest intact one, saying which and why; with no
       checkpoint at all it says so and training starts from scratch.

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
            self.resolve_resume(runner)
        elif runner._resume:
            check_checkpoint_file(runner._load_from, for_resume=True)

    def resolve_resume(self, runner) -> Optional[str]:
        """Choose the checkpoint ``--resume`` continues from, and tell mmengine.

        mmengine reads the path written in ``work_dir/last_checkpoint`` as is: an
        absolute path, so a work dir copied elsewhere resumes from the original's
        checkpoint, and an empty pointer, a missing or a broken file fails inside
        ``torch.load``; with no pointer it logs "resumed from ... None" and starts
        from scratch. Here the pointer is read for its file name only, looked up in
        this work dir's checkpoint folder, and checked; if it is unusable, the newest
        intact ``iter_*.pth`` of the folder is taken instead, with a warning naming
        what was skipped. The choice is set as ``runner._load_from`` (mmengine then
        resumes from it) and written to the pointer.

        Returns:
            The checkpoint resumed from, or None when the folder holds none (training
            then starts from scratch, with a warning naming the folder).

        Raises:
            CheckpointFileError: checkpoints exist but none of them loads.
        """
        folder = self.checkpoint_dir(runner)
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        self.remove_partial_writes(runner, folder)
        named = ''
        if osp.isfile(pointer):
            with open(pointer) as f:
                named = f.read().strip()
        candidates = [path for _, path in self.checkpoints(folder)]
        if named and osp.join(folder, osp.basename(named)) in candidates:
            first = osp.join(folder, osp.basename(named))
            candidates = [first] + [c for c in candidates if c != first]
        if not candidates:
            runner.logger.warning(
                f'--resume: no checkpoint found in {osp.abspath(folder)!r} (no '
                f'{self.filename_tmpl.format("N")!r} file); training starts from scratch')
            runner._resume = False
            return None
        skipped = []
        for path in candidates:
            problem = checkpoint_file_problem(path, for_resume=True)
            if problem is None:
                break
            skipped.append(f'{osp.basename(path)} {problem}')
        else:
            raise CheckpointFileError(
                f'--resume: no usable checkpoint in {osp.abspath(folder)!r}: ' +
                '; '.join(skipped))
        notes = []
        if not named:
            notes.append(f"'{pointer}' is empty or missing")
        elif osp.abspath(named) != osp.abspath(candidates[0]):
            notes.append(f"'last_checkpoint' names {named!r}, which is not in this work dir")
        if skipped:
            notes.append('skipped ' + '; '.join(skipped))
        if notes:
            runner.logger.warning(f'--resume: {" / ".join(notes)}; resuming from {path!r}')
        else:
            runner.logger.info(f'--resume: resuming from {path!r}')
        atomic_write_text(path, pointer)
        runner._load_from = path
        return path

    def checkpoint_dir(self, runner) -> str:
        """Where the checkpoints go: ``CheckpointHook.before_train`` sets it the same way."""
        if self.out_dir is None or self.out_dir == runner.work_dir:
            return runner.work_dir
        return osp.join(self.out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))

    def remove_partial_writes(self, runner, folder: str) -> None:
        """Delete the temporary files of checkpoint writes cut short by a kill."""
        for path in glob.glob(osp.join(folder, '.*.tmp')):
            try:
                os.remove(path)
            except FileNotFoundError:  # another rank removed it first
                continue
            runner.logger.info(f'--resume: removed {path!r}, a checkpoint write cut short')

    def checkpoints(self, folder: str) -> List[Tuple[int, str]]:
        """(step, path) of the checkpoints of ``folder`` by ``filename_tmpl``, newest first."""
        pattern = re.compile(re.escape(self.filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
        found = []
        for path in glob.glob(osp.join(folder, '*')):
            match = pattern.match(osp.basename(path))
            if match and osp.isfile(path):
                found.append((int(match.group(1)), path))
        return sorted(found, reverse=True)
