#!/usr/bin/env bash
# Installs sgseg's environment on a fresh CPU machine, idempotently.
#
# The environment (torch + mmcv with ops + the rest, about 6 GB) lives outside the clone,
# in ${SGSEG_CACHE:-~/.cache/sgseg}/venvs/<hash of requirements/>, and `.venv` in the
# clone is a link to it: every clone with the same requirements shares one environment.
# mmcv has no Linux wheel on PyPI, so it is built from source once (10-20 min on 2 cores)
# and the wheel is cached under ${SGSEG_CACHE}/wheels/ for every later environment.
#
# Usage: bash tools/install.sh        (re-running it is cheap: it checks and returns)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SGSEG_CACHE:-$HOME/.cache/sgseg}"
PYTHON="${PYTHON:-python3.11}"
T0=$(date +%s)

log() { printf '[install %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON not found (sgseg needs Python 3.11)" >&2; exit 1; }
mkdir -p "$CACHE/venvs" "$CACHE/wheels"

# Bump ENV_LAYOUT when the steps below change what ends up in the environment.
ENV_LAYOUT=1
KEY=$( (cat "$ROOT"/requirements/*.txt; echo "$ENV_LAYOUT") | sha256sum | cut -c1-12)
VENV="$CACHE/venvs/py311-$KEY"

# One installer at a time per cache (a CI clone and a developer may run together).
exec 9>"$CACHE/install.lock"
flock 9

build_mmcv() {
    # mmcv 2.1.0's setup.py asks for -std=c++14/17; torch 2.14's headers need C++20.
    local version src
    version=$(grep -E '^mmcv==' "$ROOT/requirements/mmcv.txt" | cut -d= -f3)
    src=$(mktemp -d)
    log "building mmcv $version with ops from source (once; 10-20 min on 2 cores)"
    "$VENV/bin/pip" download --quiet --no-deps --no-binary :all: --no-build-isolation "mmcv==$version" -d "$src"
    tar -xzf "$src"/mmcv-"$version".tar.gz -C "$src"
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/mmcv-$version/setup.py"
    # Build from outside the source folder's parent package path: the source tree must not
    # shadow the built extension later.
    (cd "$src/mmcv-$version" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" FORCE_CUDA="${FORCE_CUDA:-0}" \
        "$VENV/bin/pip" wheel --no-build-isolation --no-deps . -w "$MMCV_WHEELS")
    rm -rf "$src"
    log "mmcv wheel cached in $MMCV_WHEELS"
}

if [ ! -f "$VENV/.complete" ]; then
    log "creating environment $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -r "$ROOT/requirements/build.txt"
    log "installing torch + torchvision (about a minute)"
    "$VENV/bin/pip" install --quiet -r "$ROOT/requirements/torch.txt"
    TORCH_VERSION=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
    MMCV_WHEELS="$CACHE/wheels/torch$TORCH_VERSION"
    mkdir -p "$MMCV_WHEELS"
    if ! ls "$MMCV_WHEELS"/mmcv-*.whl >/dev/null 2>&1; then
        build_mmcv
    else
        log "reusing cached mmcv wheel from $MMCV_WHEELS"
    fi
    "$VENV/bin/pip" install --quiet --no-deps "$MMCV_WHEELS"/mmcv-*.whl
    # mmcv's own runtime dependencies (it was installed without them)
    "$VENV/bin/pip" install --quiet addict yapf pyyaml pillow
    log "installing runtime, optional and test requirements"
    "$VENV/bin/pip" install --quiet -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
    "$VENV/bin/pip" install --quiet --no-build-isolation -r "$ROOT/requirements/optional.txt"
    "$VENV/bin/python" -c "import mmseg.models, mmcv.ops, timm, transformers, pycocotools, pydensecrf.densecrf" \
        || { echo "error: the environment in $VENV does not import; see above" >&2; exit 1; }
    touch "$VENV/.complete"
    log "environment complete"
else
    log "environment $VENV already complete"
fi

ln -sfn "$VENV" "$ROOT/.venv"

# The browser test of the web demo (tests/test_apis/test_web_demo.py) drives the system's
# Chromium through Playwright; nothing downloads a browser at run time. Debian / Ubuntu
# package: chromium. Installed once, when missing.
install_browser() {
    if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
        return
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if command -v apt-get >/dev/null && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
        log "installing chromium (the web demo's browser test drives it)"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        log "warning: chromium is missing and cannot be installed here (needs apt-get as" \
            "root); install it to run the web demo's browser test"
    fi
}
install_browser

# sgseg itself: an editable install pointing at *this* clone (the environment is shared).
if ! (cd /tmp && "$ROOT/.venv/bin/python" -c "import sgseg, sys; sys.exit(not sgseg.__file__.startswith('$ROOT/'))" 2>/dev/null); then
    log "installing sgseg (editable) from $ROOT"
    "$ROOT/.venv/bin/pip" install --quiet --no-deps --no-build-isolation -e "$ROOT"
fi
log "done: $ROOT/.venv -> $VENV"
