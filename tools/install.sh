#!/usr/bin/env bash
# Installs sgseg's environment, idempotently, on a CPU machine or a CUDA machine.
#
# The environment (torch + mmcv with ops + the rest, about 6 GB) lives outside the clone,
# in ${SGSEG_CACHE:-~/.cache/sgseg}/venvs/py311[-cu<XY>]-<hash>, and `.venv` in the clone is
# a link to it: every clone with the same requirements shares one environment. sgseg itself
# is NOT installed into it: the clone's tools, `make` and `.venv/bin/python` put that clone
# first on sys.path, so a shared environment never runs another clone's code.
# mmcv has no Linux wheel on PyPI, so it is built from source once (10-20 min on 2 cores
# for the CPU ops) and the wheel is cached under ${SGSEG_CACHE}/wheels/.
#
# CPU or CUDA. With a GPU (nvidia-smi lists one) and nvcc (CUDA_HOME/bin or PATH), or with
# SGSEG_CUDA=1, it installs the CUDA variant:
#   - torch/torchvision (the pins of requirements/torch.txt) built for nvcc's CUDA X.Y, from
#     the PyTorch index https://download.pytorch.org/whl/cuXY (SGSEG_TORCH_INDEX overrides);
#   - mmcv built with FORCE_CUDA=1 for TORCH_CUDA_ARCH_LIST: the GPUs' compute capabilities
#     (nvidia-smi --query-gpu=compute_cap) unless given, e.g. TORCH_CUDA_ARCH_LIST='8.0;9.0'
#     on a login node without a GPU; the wheel is cached per torch, CUDA and arch list;
#   - a roi_align on the GPU checks that mmcv.ops runs its CUDA kernels.
# SGSEG_CUDA=0 forces the CPU variant. Without a GPU the CPU variant is installed.
#
# Usage: bash tools/install.sh [--dry-run]   (re-running it is cheap: it checks and returns)
#   --dry-run (or SGSEG_INSTALL_DRY_RUN=1) prints the variant and every command it would
#   run (lines starting with '+ '), and runs, creates and locks nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SGSEG_CACHE:-$HOME/.cache/sgseg}"
PYTHON="${PYTHON:-python3.11}"
DRY_RUN="${SGSEG_INSTALL_DRY_RUN:-0}"
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$arg' (usage: bash tools/install.sh [--dry-run])" >&2; exit 2 ;;
    esac
done
T0=$(date +%s)

log() { printf '[install %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { echo "error: $*" >&2; exit 1; }
# Runs a command, or under --dry-run prints it, shell-quoted, after '+ '.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (sgseg needs Python 3.11)"

# --- the variant: CPU, or CUDA for this machine's nvcc and GPUs ---
GPUS=0
if command -v nvidia-smi >/dev/null 2>&1; then
    GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
fi
NVCC=""
if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
    NVCC="$CUDA_HOME/bin/nvcc"
elif command -v nvcc >/dev/null 2>&1; then
    NVCC="$(command -v nvcc)"
fi
case "${SGSEG_CUDA:-auto}" in
    1) VARIANT=cuda ;;
    0) VARIANT=cpu ;;
    auto)
        if [ "$GPUS" -gt 0 ] && [ -n "$NVCC" ]; then
            VARIANT=cuda
        else
            VARIANT=cpu
            if [ "$GPUS" -gt 0 ]; then
                log "warning: $GPUS GPU(s) visible but no nvcc (CUDA_HOME/bin or PATH): installing" \
                    "the CPU variant. For mmcv's CUDA ops install the CUDA toolkit and rerun" \
                    "(or SGSEG_CUDA=1 with CUDA_HOME set)."
            fi
        fi ;;
    *) die "SGSEG_CUDA must be 1 (CUDA), 0 (CPU) or unset (detect), not '${SGSEG_CUDA}'" ;;
esac

TORCH_VERSION=$(sed -n 's/^torch==\([^ #]*\).*/\1/p' "$ROOT/requirements/torch.txt")
TORCHVISION_VERSION=$(sed -n 's/^torchvision==\([^ #]*\).*/\1/p' "$ROOT/requirements/torch.txt")
[ -n "$TORCH_VERSION" ] && [ -n "$TORCHVISION_VERSION" ] \
    || die "requirements/torch.txt must pin torch==X and torchvision==Y"

# Bump ENV_LAYOUT when the steps below change what ends up in the environment.
ENV_LAYOUT=2
if [ "$VARIANT" = cuda ]; then
    [ -n "$NVCC" ] || die "SGSEG_CUDA=1 needs nvcc (the CUDA toolkit): put it on PATH or set CUDA_HOME"
    CUDA_VERSION=$("$NVCC" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n1)
    [ -n "$CUDA_VERSION" ] || die "no 'release X.Y' in the output of '$NVCC --version'"
    CUDA_TAG="cu${CUDA_VERSION/./}"
    if [ -n "${TORCH_CUDA_ARCH_LIST:-}" ]; then
        ARCH_LIST="$TORCH_CUDA_ARCH_LIST"
    elif [ "$GPUS" -gt 0 ]; then
        ARCH_LIST=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | tr -d ' ' \
                    | sort -u -t. -k1,1n -k2,2n | paste -sd';' -)
    else
        die "no GPU visible to read compute capabilities from: set TORCH_CUDA_ARCH_LIST, e.g. '8.0;9.0'"
    fi
    ARCH_LIST=$(echo "$ARCH_LIST" | tr -s ' ,;' ';' | sed -e 's/^;//' -e 's/;$//')
    [[ "$ARCH_LIST" =~ ^[0-9]+\.[0-9]+(\+PTX)?(\;[0-9]+\.[0-9]+(\+PTX)?)*$ ]] \
        || die "TORCH_CUDA_ARCH_LIST '$ARCH_LIST' is not a list of compute capabilities like '8.0;9.0+PTX'"
    CUDA_HOME="${CUDA_HOME:-$(cd "$(dirname "$(readlink -f "$NVCC")")/.." && pwd)}"
    TORCH_INDEX="${SGSEG_TORCH_INDEX:-https://download.pytorch.org/whl/$CUDA_TAG}"
    KEY=$( (cat "$ROOT"/requirements/*.txt; echo "$ENV_LAYOUT"; echo "$CUDA_TAG $ARCH_LIST $TORCH_INDEX") \
           | sha256sum | cut -c1-12)
    VENV="$CACHE/venvs/py311-$CUDA_TAG-$KEY"
    MMCV_WHEELS="$CACHE/wheels/torch$TORCH_VERSION-$CUDA_TAG-sm${ARCH_LIST//;/_}"
    log "CUDA variant: nvcc $NVCC (CUDA $CUDA_VERSION, CUDA_HOME=$CUDA_HOME), $GPUS GPU(s)," \
        "TORCH_CUDA_ARCH_LIST=$ARCH_LIST, torch $TORCH_VERSION+$CUDA_TAG from $TORCH_INDEX"
else
    KEY=$( (cat "$ROOT"/requirements/*.txt; echo "$ENV_LAYOUT") | sha256sum | cut -c1-12)
    VENV="$CACHE/venvs/py311-$KEY"
    MMCV_WHEELS="$CACHE/wheels/torch$TORCH_VERSION"
    log "CPU variant (SGSEG_CUDA=1 for the CUDA one)"
fi
SITE="$VENV/lib/python3.11/site-packages"

if [ "$DRY_RUN" = 1 ]; then
    log "dry run: environment $VENV, mmcv wheels $MMCV_WHEELS; nothing is run"
else
    mkdir -p "$CACHE/venvs" "$CACHE/wheels"
    # One installer at a time per cache (a CI clone and a developer may run together).
    exec 9>"$CACHE/install.lock"
    flock 9
fi

install_torch() {
    if [ "$VARIANT" = cuda ]; then
        log "installing torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION for CUDA $CUDA_VERSION"
        run "$VENV/bin/pip" install --quiet --index-url "$TORCH_INDEX" \
            "torch==$TORCH_VERSION+$CUDA_TAG" "torchvision==$TORCHVISION_VERSION+$CUDA_TAG"
    else
        log "installing torch + torchvision (about a minute)"
        run "$VENV/bin/pip" install --quiet -r "$ROOT/requirements/torch.txt"
    fi
    run "$VENV/bin/python" -c "import torch; cuda = torch.version.cuda; \
assert torch.__version__.split('+')[0] == '$TORCH_VERSION' and \
('$VARIANT' == 'cpu' or cuda == '${CUDA_VERSION:-}'), \
f'installed torch {torch.__version__} (CUDA {cuda}), expected $TORCH_VERSION ($VARIANT ${CUDA_VERSION:-})'"
}

build_mmcv() {
    # mmcv 2.1.0's setup.py asks for -std=c++14/17; torch 2.14's headers need C++20.
    local version src build_env
    version=$(grep -E '^mmcv==' "$ROOT/requirements/mmcv.txt" | cut -d= -f3)
    if [ "$DRY_RUN" = 1 ]; then src="${TMPDIR:-/tmp}/mmcv-src"; else src=$(mktemp -d); fi
    log "building mmcv $version with ops ($VARIANT) from source (once; 10-20 min on 2 cores)"
    run "$VENV/bin/pip" download --quiet --no-deps --no-binary :all: --no-build-isolation "mmcv==$version" -d "$src"
    run tar -xzf "$src/mmcv-$version.tar.gz" -C "$src"
    run sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/mmcv-$version/setup.py"
    if [ "$VARIANT" = cuda ]; then
        build_env=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$ARCH_LIST" "CUDA_HOME=$CUDA_HOME"
                   "MAX_JOBS=${MAX_JOBS:-$(nproc)}")
    else
        build_env=(FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-2}")
    fi
    # Built from inside the source folder (mmcv's setup.py globs relative paths).
    run env -C "$src/mmcv-$version" MMCV_WITH_OPS=1 "${build_env[@]}" \
        "$VENV/bin/pip" wheel --no-build-isolation --no-deps . -w "$MMCV_WHEELS"
    run rm -rf "$src"
    log "mmcv wheel cached in $MMCV_WHEELS"
}

# A tiny roi_align on the GPU against the CPU kernel: mmcv.ops has working CUDA kernels.
CUDA_OPS_CHECK="import torch; from mmcv.ops import roi_align; \
x, rois = torch.arange(64.).view(1, 1, 8, 8), torch.tensor([[0., 1., 1., 6., 6.]]); \
cpu = roi_align(x, rois, (2, 2), 1.0, 2, 'avg', True); \
gpu = roi_align(x.cuda(), rois.cuda(), (2, 2), 1.0, 2, 'avg', True); \
assert torch.allclose(gpu.cpu(), cpu), (gpu, cpu); \
print('mmcv.ops runs on', torch.cuda.get_device_name(0), '(roi_align equals the CPU kernel)')"

if [ ! -f "$VENV/.complete" ]; then
    log "creating environment $VENV"
    run rm -rf "$VENV"
    run "$PYTHON" -m venv "$VENV"
    run "$VENV/bin/pip" install --quiet --upgrade pip
    run "$VENV/bin/pip" install --quiet -r "$ROOT/requirements/build.txt"
    install_torch
    [ "$DRY_RUN" = 1 ] || mkdir -p "$MMCV_WHEELS"
    if ! ls "$MMCV_WHEELS"/mmcv-*.whl >/dev/null 2>&1; then
        build_mmcv
    else
        log "reusing cached mmcv wheel from $MMCV_WHEELS"
    fi
    run "$VENV/bin/pip" install --quiet --no-deps "$MMCV_WHEELS"/mmcv-*.whl
    # mmcv's own runtime dependencies (it was installed without them)
    run "$VENV/bin/pip" install --quiet addict yapf pyyaml pillow
    log "installing runtime, optional and test requirements"
    run "$VENV/bin/pip" install --quiet -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
    run "$VENV/bin/pip" install --quiet --no-build-isolation -r "$ROOT/requirements/optional.txt"
    # `<clone>/.venv/bin/python` imports that clone's sgseg (appended to sys.path, after the
    # script's folder and PYTHONPATH); see tools/misc/sgseg_clone.pth.
    run cp "$ROOT/tools/misc/sgseg_clone.pth" "$SITE/sgseg_clone.pth"
    run "$VENV/bin/python" -c "import mmseg.models, mmcv.ops, timm, transformers, pycocotools, pydensecrf.densecrf" \
        || die "the environment in $VENV does not import; see above"
    if [ "$VARIANT" = cuda ]; then
        if [ "$GPUS" -gt 0 ]; then
            run "$VENV/bin/python" -c "$CUDA_OPS_CHECK" || die "mmcv.ops does not run on the GPU; see above"
        else
            log "no GPU visible: mmcv's CUDA kernels are built but not run here"
        fi
    fi
    run touch "$VENV/.complete"
    log "environment complete"
else
    log "environment $VENV already complete"
fi

run ln -sfn "$VENV" "$ROOT/.venv"

# The browser test of the web demo (tests/test_apis/test_web_demo.py) drives the system's
# Chromium through Playwright; nothing downloads a browser at run time. Debian / Ubuntu
# package: chromium. Installed once, when missing.
install_browser() {
    if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
        return
    fi
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    if command -v apt-get >/dev/null && { [ ${#sudo[@]} -eq 0 ] || sudo -n true 2>/dev/null; }; then
        log "installing chromium (the web demo's browser test drives it)"
        run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
        log "warning: chromium is missing and cannot be installed here (needs apt-get as" \
            "root); install it to run the web demo's browser test"
    fi
}
install_browser

# An editable sgseg left by an earlier install.sh would point the shared environment at
# one clone: remove it (each clone puts itself on sys.path instead).
shopt -s nullglob
installed=("$SITE"/sgseg-*.dist-info "$SITE"/sgseg*.egg-link "$SITE"/__editable__*sgseg*)
shopt -u nullglob
if [ ${#installed[@]} -gt 0 ]; then
    log "removing the installed sgseg from $VENV (each clone imports its own)"
    run "$VENV/bin/pip" uninstall --yes --quiet sgseg
fi
log "done: $ROOT/.venv -> $VENV"
