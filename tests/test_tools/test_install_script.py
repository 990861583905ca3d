"""tools/install.sh: the CPU and CUDA variants it plans, checked with --dry-run and fake
nvidia-smi / nvcc on a PATH that holds nothing else; and, for real on a fake environment,
the removal of an editable sgseg left by an earlier version."""
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / 'tools' / 'install.sh'
# What the script calls besides bash builtins (PATH holds only these and the fakes).
TOOLS = ('dirname', 'date', 'sed', 'grep', 'sha256sum', 'cut', 'cat', 'tr', 'sort', 'paste',
         'readlink', 'head', 'ls', 'nproc', 'mkdir', 'flock', 'ln', 'env', 'id')

FAKE_NVIDIA_SMI = """#!/bin/sh
# a GPU per line of $FAKE_CAPS
case "$*" in
  -L) i=0; for cap in $FAKE_CAPS; do echo "GPU $i: NVIDIA Fake (UUID: GPU-$i)"; i=$((i+1)); done ;;
  *compute_cap*) for cap in $FAKE_CAPS; do echo "$cap"; done ;;
  *) exit 9 ;;
esac
"""
FAKE_NVCC = """#!/bin/sh
echo "nvcc: NVIDIA (R) Cuda compiler driver"
echo "Cuda compilation tools, release $FAKE_CUDA, V$FAKE_CUDA.1"
"""


def _write_exec(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def make_bin(tmp_path: Path, nvidia_smi: bool = False, nvcc: bool = False) -> Path:
    """tmp_path/bin: symlinks to the real tools the script needs, and the fakes asked."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(parents=True)
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f'{tool} is needed by tools/install.sh'
        (bin_dir / tool).symlink_to(found)
    if nvidia_smi:
        _write_exec(bin_dir / 'nvidia-smi', FAKE_NVIDIA_SMI)
    if nvcc:
        _write_exec(bin_dir / 'nvcc', FAKE_NVCC)
    return bin_dir


def install(tmp_path: Path, bin_dir: Path, *args: str, root: Path = ROOT, check: bool = True,
            **env: str) -> subprocess.CompletedProcess:
    full_env = dict(PATH=str(bin_dir), HOME=str(tmp_path), PYTHON=sys.executable,
                    SGSEG_CACHE=str(tmp_path / 'cache'), FAKE_CAPS='9.0 8.0', FAKE_CUDA='12.8')
    full_env.update(env)
    proc = subprocess.run([shutil.which('bash'), str(root / 'tools' / 'install.sh'), *args],
                          env=full_env, capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def commands(proc: subprocess.CompletedProcess) -> list:
    """The commands a dry run printed, each as its argument list."""
    return [shlex.split(line[2:]) for line in proc.stdout.splitlines() if line.startswith('+ ')]


def find(cmds: list, *words: str) -> list:
    """The one command that holds every word."""
    hits = [c for c in cmds if all(w in c for w in words)]
    assert len(hits) == 1, (words, cmds)
    return hits[0]


def planned(proc) -> tuple:
    """(environment, mmcv wheel folder) from the dry run's summary line."""
    line = next(s for s in proc.stdout.splitlines() if 'dry run: environment' in s)
    venv = line.split('environment ')[1].split(',')[0]
    wheels = line.split('mmcv wheels ')[1].split(';')[0]
    return Path(venv), Path(wheels)


def test_cpu_variant_without_gpu_is_the_cpu_install(tmp_path):
    venv_link = os.readlink(ROOT / '.venv') if (ROOT / '.venv').is_symlink() else None
    proc = install(tmp_path, make_bin(tmp_path, nvcc=True), '--dry-run')
    assert 'CPU variant' in proc.stdout
    venv, wheels = planned(proc)
    assert venv.parent == tmp_path / 'cache' / 'venvs' and venv.name.startswith('py311-')
    assert '-cu' not in venv.name and wheels == tmp_path / 'cache' / 'wheels' / 'torch2.14.1'
    cmds = commands(proc)
    torch = find(cmds, 'install', '-r', str(ROOT / 'requirements' / 'torch.txt'))
    assert '--index-url' not in torch
    wheel = find(cmds, 'wheel', '--no-build-isolation')
    assert wheel[:2] == ['env', '-C'] and wheel[2].endswith('/mmcv-src/mmcv-2.1.0')
    assert {'MMCV_WITH_OPS=1', 'FORCE_CUDA=0', 'MAX_JOBS=2'} <= set(wheel)
    assert wheel[-2:] == ['-w', str(wheels)]
    sed = find(cmds, 'sed', '-i')
    assert 's/-std=c++17/-std=c++20/g' in sed and 's/-std=c++14/-std=c++20/g' in sed
    # sgseg is never installed into the shared environment; its .pth is
    assert not any('install' in c and ('-e' in c or '--editable' in c) for c in cmds)
    assert find(cmds, 'cp')[-1] == f'{venv}/lib/python3.11/site-packages/sgseg_clone.pth'
    assert not any('roi_align' in ' '.join(c) for c in cmds)
    assert find(cmds, 'ln', '-sfn') == ['ln', '-sfn', str(venv), str(ROOT / '.venv')]
    # a dry run creates, links and locks nothing
    assert not (tmp_path / 'cache').exists()
    assert (os.readlink(ROOT / '.venv') if (ROOT / '.venv').is_symlink() else None) == venv_link


def test_cuda_variant_from_the_gpus_and_nvcc(tmp_path):
    proc = install(tmp_path, make_bin(tmp_path, nvidia_smi=True, nvcc=True), '--dry-run')
    assert 'CUDA variant' in proc.stdout and 'CUDA 12.8' in proc.stdout
    venv, wheels = planned(proc)
    assert venv.name.startswith('py311-cu128-')
    assert wheels.name == 'torch2.14.1-cu128-sm8.0_9.0'  # sorted, one entry per capability
    cmds = commands(proc)
    torch = find(cmds, 'torch==2.14.1+cu128')
    assert 'torchvision==0.29.1+cu128' in torch
    assert torch[torch.index('--index-url') + 1] == 'https://download.pytorch.org/whl/cu128'
    wheel = find(cmds, 'wheel', '--no-build-isolation')
    assert {'MMCV_WITH_OPS=1', 'FORCE_CUDA=1', 'TORCH_CUDA_ARCH_LIST=8.0;9.0',
            f'CUDA_HOME={tmp_path}'} <= set(wheel)
    assert wheel[-2:] == ['-w', str(wheels)]
    roi_align = [c[-1] for c in cmds if 'roi_align' in ' '.join(c)]
    assert len(roi_align) == 1 and '.cuda()' in roi_align[0] and 'allclose' in roi_align[0]
    torch_check = [c[-1] for c in cmds if 'torch.version.cuda' in ' '.join(c)]
    assert len(torch_check) == 1 and "cuda == '12.8'" in torch_check[0]
    # the environment and the wheel depend on the CUDA version and the arch list
    other = install(tmp_path, make_bin(tmp_path / 'b', nvidia_smi=True, nvcc=True),
                    '--dry-run', FAKE_CAPS='8.6', FAKE_CUDA='13.0')
    other_venv, other_wheels = planned(other)
    assert other_venv.name.startswith('py311-cu130-') and other_venv != venv
    assert other_wheels.name == 'torch2.14.1-cu130-sm8.6'


def test_cuda_forced_on_a_node_without_gpu_reuses_the_cached_wheel(tmp_path):
    cuda_home = tmp_path / 'cuda-13.0'
    (cuda_home / 'bin').mkdir(parents=True)
    _write_exec(cuda_home / 'bin' / 'nvcc', FAKE_NVCC)
    bin_dir = make_bin(tmp_path)  # neither nvidia-smi nor nvcc on PATH
    env = dict(SGSEG_CUDA='1', CUDA_HOME=str(cuda_home), FAKE_CUDA='13.0',
               TORCH_CUDA_ARCH_LIST='7.5 8.6+PTX')
    _, wheels = planned(install(tmp_path, bin_dir, '--dry-run', **env))
    assert wheels.name == 'torch2.14.1-cu130-sm7.5_8.6+PTX'
    wheels.mkdir(parents=True)
    (wheels / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_bytes(b'')
    proc = install(tmp_path, bin_dir, **env, SGSEG_INSTALL_DRY_RUN='1')
    assert 'reusing cached mmcv wheel' in proc.stdout and 'no GPU visible' in proc.stdout
    cmds = commands(proc)
    assert not any('wheel' in c for c in cmds)
    find(cmds, '--no-deps', str(wheels / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'))
    assert not any('roi_align' in ' '.join(c) for c in cmds)
    assert f'CUDA_HOME={cuda_home}' in proc.stdout


@pytest.mark.parametrize('fakes, env, message', [
    (dict(), dict(SGSEG_CUDA='1'), 'needs nvcc'),
    (dict(nvcc=True), dict(SGSEG_CUDA='1'), 'set TORCH_CUDA_ARCH_LIST'),
    (dict(nvidia_smi=True, nvcc=True), dict(TORCH_CUDA_ARCH_LIST='sm_80'),
     "TORCH_CUDA_ARCH_LIST 'sm_80' is not"),
    (dict(nvcc=True), dict(SGSEG_CUDA='yes'), "SGSEG_CUDA must be 1 (CUDA), 0 (CPU)"),
])
def test_cuda_variant_errors_name_what_to_set(tmp_path, fakes, env, message):
    proc = install(tmp_path, make_bin(tmp_path, **fakes), '--dry-run', check=False, **env)
    assert proc.returncode == 1 and message in proc.stderr, proc.stdout + proc.stderr


def test_gpu_without_nvcc_installs_the_cpu_variant_and_says_why(tmp_path):
    proc = install(tmp_path, make_bin(tmp_path, nvidia_smi=True), '--dry-run')
    assert 'CPU variant' in proc.stdout and '2 GPU(s) visible but no nvcc' in proc.stdout
    assert 'FORCE_CUDA=0' in find(commands(proc), 'wheel', '--no-build-isolation')


def test_old_editable_sgseg_is_removed_from_a_complete_environment(tmp_path):
    """A real (not dry) run in a copy of the scripts, on a complete fake environment."""
    clone = tmp_path / 'clone'
    shutil.copytree(ROOT / 'requirements', clone / 'requirements')
    (clone / 'tools' / 'misc').mkdir(parents=True)
    shutil.copy(INSTALL, clone / 'tools' / 'install.sh')
    shutil.copy(ROOT / 'tools' / 'misc' / 'sgseg_clone.pth', clone / 'tools' / 'misc')
    bin_dir = make_bin(tmp_path)
    venv, _ = planned(install(tmp_path, bin_dir, '--dry-run', root=clone))
    site = venv / 'lib' / 'python3.11' / 'site-packages'
    (site / 'sgseg-0.1.0.dist-info').mkdir(parents=True)
    (venv / 'bin').mkdir()
    _write_exec(venv / 'bin' / 'pip', f'#!/bin/sh\necho "$@" >> {tmp_path}/pip_calls\n')
    (venv / '.complete').touch()
    proc = install(tmp_path, bin_dir, root=clone)
    assert 'already complete' in proc.stdout and 'removing the installed sgseg' in proc.stdout
    assert (tmp_path / 'pip_calls').read_text().splitlines() == ['uninstall --yes --quiet sgseg']
    assert os.readlink(clone / '.venv') == str(venv)
    # once removed (the fake pip removed nothing: remove it by hand), nothing more is done
    (site / 'sgseg-0.1.0.dist-info').rmdir()
    (tmp_path / 'pip_calls').unlink()
    proc = install(tmp_path, bin_dir, root=clone)
    assert 'removing' not in proc.stdout and not (tmp_path / 'pip_calls').exists()
