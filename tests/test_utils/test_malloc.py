"""keep_freed_memory: a large tensor freed and allocated again is not faulted in again."""
import os
import subprocess
import sys

import pytest

from sgseg.utils import malloc

# In a fresh process (the setting is process-wide): allocate and free a 64 MB tensor,
# then count the minor page faults of allocating and filling it once more.
CHILD = r'''
import resource, torch
from sgseg.utils import keep_freed_memory
applied = keep_freed_memory()
n = 16 * 2**20  # 64 MB of float32
x = torch.empty(n).fill_(1.)
del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = torch.empty(n).fill_(2.)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(applied, faults, float(x[-1]))
'''


def run_child(setting):
    env = dict(os.environ, SGSEG_MALLOC=setting)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    out = subprocess.run([sys.executable, '-c', CHILD], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == 'True', int(out[1]), float(out[2])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc (Linux)')
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    pages = 64 * 2**20 // 4096
    applied, faults, value = run_child('keep')
    assert applied and value == 2.
    assert faults < pages // 10, f'{faults} page faults for {pages} pages reused'
    # glibc's default hands the block back on free: every page is faulted in again
    applied, faults, value = run_child('system')
    assert not applied and value == 2.
    assert faults >= pages * 0.9, f'only {faults} faults for {pages} fresh pages'


def test_unknown_setting_is_refused(monkeypatch):
    monkeypatch.setenv(malloc.ENV_KEY, 'jemalloc')
    with pytest.raises(ValueError, match='SGSEG_MALLOC'):
        malloc.keep_freed_memory()
