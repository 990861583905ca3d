"""Telling a usable checkpoint file from a truncated, empty or foreign one, in one line.

``torch.load`` on a bad file raises messages that do not say what is wrong with the
file (``PytorchStreamReader failed reading zip archive: failed finding central
directory``), or, under ``weights_only=True``, advise re-running with
``weights_only=False`` — which would execute whatever the file holds. sgseg checks a
checkpoint before mmengine loads it and reports the file and the problem in one line.
"""
import os
import os.path as osp
import re
import zipfile
from typing import Optional

import torch


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and why."""


def checkpoint_file_problem(path: str, for_resume: bool = False) -> Optional[str]:
    """What is wrong with ``path`` as a checkpoint, or None when it loads.

    The file is opened the way mmengine opens it (``torch.load`` with the safe
    ``weights_only=True`` loader), memory-mapped so that checking a large checkpoint
    reads little of it.

    Args:
        path: the checkpoint file.
        for_resume: also require what resuming needs (``meta`` and ``state_dict``).

    Returns:
        A short reason (``'empty (0 bytes)'``, ``'truncated or not a PyTorch file
        (...)'``, ...), or None.
    """
    if not osp.isfile(path):
        return 'does not exist'
    if os.path.getsize(path) == 0:
        return 'is empty (0 bytes)'
    with open(path, 'rb') as f:
        zip_start = f.read(4) == b'PK\x03\x04'
    intact_zip = zipfile.is_zipfile(path)
    if zip_start and not intact_zip:
        return 'is truncated (a zip archive without its end, as torch.save writes them)'
    try:
        # memory-mapping needs a zip archive; anything else is read plainly (and fails
        # there with the reason, unless it is a legacy-format checkpoint)
        ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=intact_zip)
    except Exception as err:  # noqa: BLE001 - every failure becomes one line
        return _reason(err)
    if not isinstance(ckpt, dict):
        return f'holds a {type(ckpt).__name__}, not a checkpoint (a dict of weights)'
    if for_resume and not {'meta', 'state_dict'} <= set(ckpt):
        return ('is not a training checkpoint (no meta / state_dict: weights only?); '
                'use it with load_from, not resume')
    return None


def _reason(err: Exception) -> str:
    text = str(err)
    unsafe = re.search(r'Unsupported global: GLOBAL ([\w.]+)', text)
    if unsafe:
        return (f'holds a {unsafe.group(1)} object, which the safe loader refuses: '
                'not an sgseg/mmengine checkpoint')
    if 'zip archive' in text or 'central directory' in text or isinstance(err, EOFError):
        return 'is truncated or not a PyTorch file (its zip archive cannot be read)'
    # the safe loader's own reason, without its advice to load unsafely
    after = text.split('WeightsUnpickler error:', 1)[-1]
    detail = next((line.strip() for line in after.splitlines() if line.strip()), '')
    if 'invalid load key' in detail or 'Unsupported operand' in detail:
        return f'is not a PyTorch checkpoint (it does not unpickle: {detail})'
    return f'cannot be read ({type(err).__name__}: {detail})'


def check_checkpoint_file(path: str, for_resume: bool = False) -> None:
    """Raise :class:`CheckpointFileError` (one line, naming ``path``) for a bad checkpoint.

    Args:
        path: the checkpoint file.
        for_resume: see :func:`checkpoint_file_problem`.
    """
    problem = checkpoint_file_problem(path, for_resume)
    if problem is not None:
        raise CheckpointFileError(f'checkpoint {path!r} {problem}')
