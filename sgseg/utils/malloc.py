"""glibc's malloc, set up for training on the CPU.

By default glibc serves every allocation above its mmap threshold (at most 32 MB) with a
fresh ``mmap`` and unmaps it when freed, and it hands freed memory at the top of its heap
back to the system. A training step allocates and frees the same large tensors every
iteration, so each step faults all of them in again page by page, and the kernel zeroes
every page first: at the paper's size (ViT-S/16 at 384 px, batch 32) about 7.5 GB of page
faults a step, a third of the step's CPU time spent in the kernel
(docs/benchmark.md, "The allocator"). Keeping freed memory for reuse removes them; the
arithmetic is untouched.
"""
import ctypes
import ctypes.util
import os
from typing import Optional

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

# SGSEG_MALLOC=system leaves glibc's defaults as they are.
ENV_KEY = 'SGSEG_MALLOC'
CHOICES = ('keep', 'system')

_applied: Optional[bool] = None


def keep_freed_memory() -> bool:
    """Makes glibc's malloc keep freed memory for the process to reuse.

    Large blocks come from the heap instead of their own ``mmap`` (``M_MMAP_MAX = 0``)
    and freed memory is not trimmed back to the system (``M_TRIM_THRESHOLD``), so a
    process's resident memory stays at its peak instead of falling between steps. Call
    it once, before the first large allocation (the tools do, next to
    :func:`set_num_threads`). ``SGSEG_MALLOC=system`` in the environment skips it; on a
    C library other than glibc it does nothing.

    Returns:
        bool: whether the settings are in effect.
    """
    global _applied
    choice = os.environ.get(ENV_KEY, 'keep').strip().lower() or 'keep'
    if choice not in CHOICES:
        raise ValueError(f'{ENV_KEY} must be one of {CHOICES}, got {choice!r}')
    if choice == 'system':
        return False
    if _applied is not None:
        return _applied
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c'))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        _applied = False  # not glibc
        return _applied
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # M_TRIM_THRESHOLD -1: never trim
    _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, -1))
    return _applied
