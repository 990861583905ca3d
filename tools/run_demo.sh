#!/usr/bin/env bash
# The embedded default end to end (what `make demo` runs after installing):
# synthetic referring data -> training on the CPU -> evaluation on val with overlays and
# on the held-out splits (phrasing, scenes), a loss curve, and every inference scheme
# beside trivial baselines.
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
$PY tools/analysis_tools/results_by_family.py "$WORK/val_results.jsonl" --data "$DATA" \
    --out "$WORK/families.md"

step "inference schemes and trivial baselines on val"
$PY tools/analysis_tools/eval_schemes.py "$CONFIG" "$CKPT" --work-dir "$WORK" \
    --out "$WORK/schemes.md"

step "held-out phrasing: val-like images, phrasings no training sentence uses"
$PY tools/analysis_tools/eval_schemes.py "$CONFIG" "$CKPT" --work-dir "$WORK" \
    --cfg-options test_dataloader.dataset.split=heldout_phrasing \
    --out "$WORK/heldout_phrasing_schemes.md"

step "held-out scenes: sentences like val's, styles no training image shows"
$PY tools/analysis_tools/eval_schemes.py "$CONFIG" "$CKPT" --work-dir "$WORK" \
    --cfg-options test_dataloader.dataset.split=heldout_scenes \
    --out "$WORK/heldout_scenes_schemes.md"

step "sentences a user might type, on the val images where each names exactly one shape"
$PY tools/analysis_tools/typed_sentences.py "$CONFIG" "$CKPT" --data "$DATA" \
    --out "$WORK/typed_sentences.md"

step "val with DenseCRF (test time, the paper's appendix D; the config's dense_crf settings)"
$PY tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK" --crf --out "$WORK/val_results_crf.jsonl"

step "own val against the held-out splits, beside the text-independent baselines"
$PY tools/analysis_tools/split_summary.py val="$WORK/schemes.json" \
    heldout_phrasing="$WORK/heldout_phrasing_schemes.json" \
    heldout_scenes="$WORK/heldout_scenes_schemes.json" --out "$WORK/splits.md"

step "loss curve"
$PY tools/analysis_tools/plot_curves.py "$WORK" --out "$WORK/loss_curve.png"

step "done: $WORK/{loss_curve.png,overlays/,splits.md,*schemes.md,families.md,typed_sentences.md,val_results.jsonl,val_results_crf.jsonl}"
echo "Web demo on this checkpoint (then open http://127.0.0.1:7860 in a browser):"
echo "  $PY tools/web_demo.py $CONFIG $CKPT"
