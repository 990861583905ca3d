"""The launcher scripts pass paths and arguments with spaces through unchanged."""
import os
import stat
import subprocess

import pytest

from .conftest import ROOT

# Stands in for python (and srun): records its arguments one per line, runs nothing.
RECORDER = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$RECORD"
"""
# srun: drop its own options, then run the command (the recorder above)
FAKE_SRUN = """#!/usr/bin/env bash
while [[ $# -gt 0 && "$1" == -* ]]; do
  [[ "$1" == -p ]] && shift
  shift
done
exec "$@"
"""


def _executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.mark.parametrize('script, fixed, expected', [
    ('dist_train.sh', ['my cfg.py', '2'],
     ['tools/train.py', 'my cfg.py', '--launcher', 'pytorch']),
    ('dist_test.sh', ['my cfg.py', 'my ckpt.pth', '2'],
     ['tools/test.py', 'my cfg.py', 'my ckpt.pth', '--launcher', 'pytorch']),
    ('slurm_train.sh', ['debug q', 'my job', 'my cfg.py', 'work dir'],
     ['tools/train.py', 'my cfg.py', '--work-dir=work dir', '--launcher=slurm']),
    ('slurm_test.sh', ['debug q', 'my job', 'my cfg.py', 'my ckpt.pth'],
     ['tools/test.py', 'my cfg.py', 'my ckpt.pth', '--launcher=slurm']),
])
def test_arguments_with_spaces_reach_the_tool_unchanged(tmp_path, script, fixed, expected):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    python = _executable(bin_dir / 'fake python', RECORDER)
    _executable(bin_dir / 'srun', FAKE_SRUN)
    record = tmp_path / 'args.txt'
    extra = ['--work-dir', 'out dir', '--cfg-options', 'a.b=1']
    env = dict(os.environ, PYTHON=str(python), RECORD=str(record),
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(['bash', str(ROOT / 'tools' / script), *fixed, *extra], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    args = record.read_text().splitlines()
    tool = next(i for i, a in enumerate(args) if a.endswith(expected[0]))
    assert args[tool:] == [str(ROOT / expected[0]), *expected[1:], *extra]
