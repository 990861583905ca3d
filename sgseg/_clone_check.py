"""Warns when ``import sgseg`` may not be the clone the user is working in.

Several clones share one environment (``tools/install.sh``), and sgseg is not installed
into it: each clone's tools, ``make`` and ``<clone>/.venv/bin/python`` put that clone on
``sys.path``. Two things can still make a script run another clone's code silently, and
both are reported at import time:

* the Python running is ``<clone A>/.venv/bin/python`` while sgseg came from clone B (a
  ``PYTHONPATH`` or working directory pointing at B);
* the environment still holds an editable sgseg install (left by an earlier
  ``tools/install.sh``) that points at another folder: any script outside a clone
  imports that folder's code.

Standard library only: this runs before anything else in ``import sgseg``.
"""
import json
import os
import os.path as osp
import sys
import sysconfig
import warnings
from importlib import metadata
from typing import List, Optional


class SgsegEnvironmentWarning(UserWarning):
    """sgseg was imported from a folder that may not be the one intended."""


def _same(a: str, b: str) -> bool:
    return osp.realpath(a) == osp.realpath(b)


def venv_clone(prefix: str) -> Optional[str]:
    """The clone whose ``.venv`` is ``prefix`` (``sys.prefix``), or None.

    ``<clone>/.venv`` is a link to the shared environment, and Python keeps the path it
    was started from as ``sys.prefix``, so the clone is its parent folder.
    """
    if osp.basename(osp.normpath(prefix)) != '.venv':
        return None
    clone = osp.dirname(osp.normpath(prefix))
    return clone if osp.isfile(osp.join(clone, 'sgseg', '__init__.py')) else None


def editable_install(site_packages: List[str]) -> Optional[str]:
    """The folder an installed ``sgseg`` distribution in ``site_packages`` points at.

    Returns:
        str | None: the local folder of an editable (or directory) install, None when
        sgseg is not installed there or was installed from a wheel.
    """
    for dist in metadata.distributions(name='sgseg', path=site_packages):
        text = dist.read_text('direct_url.json')
        if text:
            url = json.loads(text).get('url', '')
            if url.startswith('file://'):
                return url[len('file://'):]
    return None


def environment_problems(package_root: str, prefix: str,
                         site_packages: List[str]) -> List[str]:
    """What makes the sgseg in ``package_root`` a possibly unintended import.

    Args:
        package_root: the folder that holds the imported ``sgseg`` package.
        prefix: ``sys.prefix`` of the running Python.
        site_packages: the environment's site-packages folders.

    Returns:
        list[str]: one message per problem; empty when all is consistent.
    """
    problems = []
    clone = venv_clone(prefix)
    if clone is not None and not _same(clone, package_root):
        problems.append(
            f'sgseg is imported from {package_root}, but this Python is '
            f'{osp.join(prefix, "bin", "python")}, the environment of the clone {clone}. '
            f'Run {package_root}/.venv/bin/python, or put the clone you mean first on '
            'PYTHONPATH.')
    target = editable_install(site_packages)
    if target is not None and not _same(target, package_root):
        problems.append(
            f'the environment {osp.realpath(prefix)} holds an installed sgseg that points at '
            f'{target}: a script run outside a clone imports that code. Remove it with '
            f'`{prefix}/bin/pip uninstall sgseg` (tools/install.sh does).')
    return problems


def check_environment() -> None:
    """Warns (:class:`SgsegEnvironmentWarning`) about every problem found; see module doc.

    ``SGSEG_CLONE_CHECK=error`` raises instead, ``=off`` skips the check.
    """
    mode = os.environ.get('SGSEG_CLONE_CHECK', 'warn')
    if mode == 'off':
        return
    package_root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    site_packages = list(dict.fromkeys(
        sysconfig.get_paths()[key] for key in ('purelib', 'platlib')))
    problems = environment_problems(package_root, sys.prefix, site_packages)
    if problems and mode == 'error':
        raise ImportError('\n'.join(problems))
    for problem in problems:
        warnings.warn(problem, SgsegEnvironmentWarning, stacklevel=2)
