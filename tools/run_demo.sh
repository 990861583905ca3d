#!/usr/bin/env bash
# The embedded default end to end (what `make demo` runs after installing):
# synthetic referring data -> training on the CPU -> evaluation on val with overlays,
# a loss curve, and every inference scheme beside trivial baselines.
#   SEED=0 WORK_DIR=work_dirs/sg_vittiny_synthetic bash tools/run_demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY=.venv/bin/python
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
CONFIG=configs/sg_vittiny_synthetic.py
DATA=data/synthetic_refer
SEED=${SEED:-0}
WORK=${WORK_DIR:-work_dirs/sg_vittiny_synthetic}
T0=$(date +%s)
step() { printf '\n=== [demo %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

if ! $PY -c "import sys; from sgseg.datasets.synthetic import is_current; \
sys.exit(0 if is_current(sys.argv[1]) else 1)" "$DATA"; then
    step "generating the synthetic referring dataset in $DATA"
    $PY tools/dataset_converters/make_synthetic_refer.py --out "$DATA" --seed 0
else
    step "synthetic dataset found in $DATA"
fi

step "training $CONFIG (seed $SEED) -> $WORK"
$PY tools/train.py "$CONFIG" --work-dir "$WORK" --cfg-options randomness.seed="$SEED"
CKPT=$(cat "$WORK/last_checkpoint")

step "evaluating $CKPT on val (overlays in $WORK/overlays)"
$PY tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK" --show-dir "$WORK/overlays" \
    --out "$WORK/val_results.jsonl"

step "val results by sentence family"
$PY tools/analysis_tools/results_by_family.py "$WORK/val_results.jsonl" \
    --out "$WORK/families.md"

step "loss curve"
$PY tools/analysis_tools/plot_curves.py "$WORK" --out "$WORK/loss_curve.png"

step "inference schemes and trivial baselines on the same val set"
$PY tools/analysis_tools/eval_schemes.py "$CONFIG" "$CKPT" --work-dir "$WORK" \
    --out "$WORK/schemes.md"

step "done: $WORK/{loss_curve.png,overlays/,schemes.md,families.md,val_results.jsonl}"
echo "Web demo on this checkpoint (then open http://127.0.0.1:7860 in a browser):"
echo "  $PY tools/web_demo.py $CONFIG $CKPT"
