"""Lets torch >= 2.6 load mmengine's checkpoints with ``weights_only=True``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, which refuses any
class it does not know; mmengine 0.10.7 saves its ``MessageHub`` (``HistoryBuffer``
objects holding numpy arrays) in every checkpoint, so ``resume=True`` fails. Rather
than turning the safe loader off, sgseg declares the few classes mmengine's own
checkpoints contain as safe globals, at import time: every other object in a
checkpoint is still refused.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals() -> list:
    """Numpy callables and dtype classes that pickled arrays and scalars refer to."""
    multiarray = getattr(np, '_core', np.core).multiarray
    found = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return found


def register_checkpoint_safe_globals() -> None:
    """Allow the classes found in mmengine checkpoints under ``weights_only=True``."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:
        add([HistoryBuffer, *_numpy_globals()])
