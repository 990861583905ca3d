"""keep_freed_memory: a freed large block stays with the process for reuse."""
import os
import subprocess
import sys

import pytest

from sgseg.utils import malloc

# In a fresh process (the setting is process-wide): the resident memory (MB) held just
# after a 64 MB tensor is filled and just after it is freed. glibc's default serves the
# block with its own mmap and unmaps it on free, so the memory falls back by 64 MB; kept,
# the block stays in the heap, resident, for the next allocation to reuse without
# faulting its pages in again.
CHILD = r'''
import torch
from sgseg.utils import keep_freed_memory

def rss_mb():
    with open('/proc/self/status') as f:
        return int(next(l for l in f if l.startswith('VmRSS:')).split()[1]) / 1024

applied = keep_freed_memory()
x = torch.empty(16 * 2**20).fill_(2.)  # 64 MB of float32
value = float(x[-1])
filled = rss_mb()
del x
print(applied, filled - rss_mb(), value)
'''


def run_child(setting):
    env = dict(os.environ, SGSEG_MALLOC=setting)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    out = subprocess.run([sys.executable, '-c', CHILD], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == 'True', float(out[1]), float(out[2])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc (Linux)')
def test_a_freed_block_is_kept_for_reuse_not_handed_back():
    applied, released_mb, value = run_child('keep')
    assert applied and value == 2.
    assert released_mb < 8, f'{released_mb:.1f} MB handed back on free'
    applied, released_mb, value = run_child('system')
    assert not applied and value == 2.
    assert released_mb > 56, f'only {released_mb:.1f} MB of 64 handed back on free'


def test_unknown_setting_is_refused(monkeypatch):
    monkeypatch.setenv(malloc.ENV_KEY, 'jemalloc')
    with pytest.raises(ValueError, match='SGSEG_MALLOC'):
        malloc.keep_freed_memory()
