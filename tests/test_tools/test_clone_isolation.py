"""One shared environment, many clones: each clone imports its own sgseg, and sgseg says
so loudly when it comes from another clone or the environment points at one."""
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from sgseg._clone_check import (SgsegEnvironmentWarning, check_environment, editable_install,
                                environment_problems, venv_clone)

ROOT = Path(__file__).resolve().parents[2]
PTH = ROOT / 'tools' / 'misc' / 'sgseg_clone.pth'


def make_clone(path: Path, init: str = '') -> Path:
    """A folder that looks like a clone: sgseg/__init__.py and a .venv link to this
    environment (so ``<clone>/.venv/bin/python`` is this Python with that sys.prefix)."""
    (path / 'sgseg').mkdir(parents=True)
    (path / 'sgseg' / '__init__.py').write_text(init)
    (path / '.venv').symlink_to(os.path.realpath(sys.prefix))
    return path


def fake_install(site: Path, url: str) -> None:
    info = site / 'sgseg-0.1.0.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: sgseg\nVersion: 0.1.0\n')
    (info / 'direct_url.json').write_text(
        json.dumps(dict(url=url, dir_info=dict(editable=True))))


def test_venv_clone_is_the_folder_holding_the_venv_link(tmp_path):
    clone = make_clone(tmp_path / 'a')
    assert venv_clone(str(clone / '.venv')) == str(clone)
    assert venv_clone(os.path.realpath(sys.prefix)) is None  # the shared environment itself
    (tmp_path / 'b').mkdir()
    assert venv_clone(str(tmp_path / 'b' / '.venv')) is None  # not a clone


def test_problems_name_both_folders_and_the_fix(tmp_path):
    a, b = make_clone(tmp_path / 'a'), make_clone(tmp_path / 'b')
    site = tmp_path / 'site'
    site.mkdir()
    assert environment_problems(str(a), str(a / '.venv'), [str(site)]) == []
    # the same clone through a symlinked path is the same clone
    (tmp_path / 'link').symlink_to(a)
    assert environment_problems(str(tmp_path / 'link'), str(a / '.venv'), [str(site)]) == []

    [problem] = environment_problems(str(b), str(a / '.venv'), [str(site)])
    assert f'imported from {b}' in problem and f'the clone {a}' in problem

    fake_install(site, f'file://{a}')
    assert editable_install([str(site)]) == str(a)
    assert environment_problems(str(a), str(a / '.venv'), [str(site)]) == []
    problems = environment_problems(str(b), str(b / '.venv'), [str(site)])
    assert len(problems) == 1 and f'points at {a}' in problems[0]
    assert 'pip uninstall sgseg' in problems[0]


def test_import_warns_when_sgseg_comes_from_another_clone(tmp_path, monkeypatch):
    other = make_clone(tmp_path / 'other clone')
    monkeypatch.delenv('SGSEG_CLONE_CHECK', raising=False)
    monkeypatch.setattr(sys, 'prefix', str(other / '.venv'))
    with pytest.warns(SgsegEnvironmentWarning) as record:
        check_environment()
    [warning] = [str(w.message) for w in record if 'is imported from' in str(w.message)]
    assert f'imported from {ROOT}' in warning and f'the clone {other}' in warning
    monkeypatch.setenv('SGSEG_CLONE_CHECK', 'off')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_environment()


def test_import_fails_on_request_before_anything_is_imported(tmp_path):
    other = make_clone(tmp_path / 'other')
    code = 'import sys\ntry:\n    import sgseg\nexcept ImportError as e:\n    print(e)\n' \
        'print("torch" in sys.modules)'
    env = dict(os.environ, PYTHONPATH=str(ROOT), SGSEG_CLONE_CHECK='error')
    proc = subprocess.run([str(other / '.venv' / 'bin' / 'python'), '-c', code], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    message, torch_imported = proc.stdout.strip().rsplit('\n', 1)
    assert f'imported from {ROOT}' in message and f'the clone {other}' in message
    assert torch_imported == 'False'


def test_clone_venv_python_imports_that_clone_from_any_folder(tmp_path):
    """The line of the .pth that tools/install.sh puts into the environment (site runs it
    after setting sys.prefix to the venv it was started from)."""
    clone = make_clone(tmp_path / 'clone', init='WHICH = "this clone"\n')
    line = [s for s in PTH.read_text().splitlines() if s.startswith('import ')]
    assert len(line) == 1  # site executes only lines that start with 'import'
    code = line[0] + '\nimport sgseg, sys\nprint(sgseg.WHICH, sys.path[-1])'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run([str(clone / '.venv' / 'bin' / 'python'), '-c', code],
                          cwd='/', env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ['this', 'clone', str(clone)], proc.stderr
    # the shared environment's own python (no clone) gets nothing appended
    proc = subprocess.run([os.path.join(os.path.realpath(sys.prefix), 'bin', 'python'),
                           '-c', line[0] + '\nimport sys\nprint(sys.path[-1])'],
                          cwd='/', env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() != str(clone)


def test_every_tool_puts_its_own_clone_first():
    """Each tools/**/*.py that imports sgseg inserts its repository root before doing so."""
    insert = re.compile(r'sys\.path\.insert\(0, '
                        r'(\w+|(osp\.dirname\()+osp\.abspath\(__file__\)\)+)\)')
    checked = 0
    for tool in sorted((ROOT / 'tools').rglob('*.py')):
        text = tool.read_text()
        first_import = re.search(r'^(from|import) sgseg', text, re.M)
        if first_import is None:
            continue
        match = insert.search(text)
        assert match and match.start() < first_import.start(), f'{tool} does not insert its root'
        root = match.group(1)
        if root.isidentifier():  # ROOT = osp.dirname(...) above it
            root = re.search(rf'^{root} = (.*)$', text, re.M).group(1)
        depth = root.count('osp.dirname(')
        assert 'osp.abspath(__file__)' in root and depth == len(tool.relative_to(ROOT).parts), \
            f'{tool} inserts the wrong folder'
        checked += 1
    assert checked >= 14
