"""Atomic file writes, and a file backend that makes mmengine's checkpoints use them.

A checkpoint written in place is truncated if the process is killed (or the disk
fills up) half-way, and it may be the very file ``last_checkpoint`` points at, so
``--resume`` would then fail on the only state left. Writing to a temporary file in
the same folder, flushing it to disk and renaming it over the target with
:func:`os.replace` (atomic on POSIX and Windows within one file system) means the
target is always either the old complete file or the new complete file.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

# Written in slices so that a failing write (ENOSPC) stops part-way, as it would on a
# real full disk, rather than only ever failing before the first byte.
_CHUNK = 1 << 22


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` through a temporary file and :func:`os.replace`.

    Args:
        data: the file's content.
        path: the target; its folder is created if missing.

    Raises:
        OSError: whatever the write raised (e.g. ``ENOSPC``), after removing the
            temporary file; ``path`` is left as it was.
    """
    path = str(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with open(fd, 'wb') as f:
            view = memoryview(data)
            for start in range(0, len(view), _CHUNK):
                f.write(view[start:start + _CHUNK])
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give it the mode a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def atomic_write_text(text: str, path: Union[str, Path], encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(text.encode(encoding), path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: str) -> None:
    """Persist the rename itself (the directory entry); a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put``/``put_text`` are atomic.

    Selected with ``backend_args=dict(backend='atomic_local')``: mmengine's
    ``CheckpointHook`` hands its ``backend_args`` to ``Runner.save_checkpoint``, which
    writes the checkpoint through ``get_file_backend(path, backend_args).put``. Reads
    and every other operation are the local backend's.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_text(obj, filepath, encoding)
