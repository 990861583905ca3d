"""Lets torch >= 2.6 load mmengine's checkpoints with ``weights_only=True``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, which refuses any
global it does not know; mmengine 0.10.7 saves its ``MessageHub`` (``HistoryBuffer``
objects holding numpy arrays) in every checkpoint, so ``resume=True`` fails. sgseg
keeps the safe loader on and makes mmengine's checkpoints fit it, at import time:

1. ``HistoryBuffer``, and the numpy functions and dtype classes that pickled arrays
   refer to, are declared safe globals. Nothing else is: any other object in a
   checkpoint is still refused.
2. ``HistoryBuffer.__getstate__`` stops writing its four built-in statistics
   functions (min, max, current, mean) into every buffer: they are pickled through
   ``getattr``, which cannot be allowed without opening the loader to arbitrary
   attribute access, and ``__setstate__`` restores them anyway. Statistics registered
   by a user are still saved as before.
"""
import importlib

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def _numpy_globals() -> list:
    """Numpy callables and dtype classes that pickled arrays and scalars refer to."""
    multiarray = importlib.import_module(
        'numpy._core.multiarray' if np.__version__ >= '2' else 'numpy.core.multiarray')
    found = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return found


def _history_buffer_getstate(self) -> dict:
    """HistoryBuffer's state without the built-in statistics functions."""
    state = {k: v for k, v in self.__dict__.items() if k != 'statistics_methods'}
    custom = {k: v for k, v in self._statistics_methods.items() if k not in BUILTIN_STATISTICS}
    if custom:
        state['statistics_methods'] = custom
    return state


def register_checkpoint_safe_globals() -> None:
    """Make mmengine's checkpoints loadable under ``weights_only=True`` (see module doc)."""
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:
        add([HistoryBuffer, *_numpy_globals()])
