#!/usr/bin/env bash
# Checks, in one scripted run (under 10 minutes on one GPU), that the paper recipe trains
# on this machine's GPU:
#   1. check: the recipe with this run's options loads and is the run intended; the
#      pretrained ViT and BERT-base come from the hub (cache) as the recipe says, or start
#      from random weights where the hub cannot be reached (or with --random-weights);
#   2. data: a 384-px synthetic refer-format set (tools/dataset_converters/make_synthetic_refer.py);
#   3. train: configs/sg_vits16_refcoco.py for ITERS iterations with AMP (tools/train.py --amp),
#      the loss warm-up and lr hold over a tenth of them;
#   4. test: the last checkpoint on the set's testA split (tools/test.py);
#   5. benchmark: tools/analysis_tools/benchmark.py --device cuda on the recipe;
#   6. summary: OUT/summary.json and OUT/summary.md: iterations/s, images/s, peak GPU memory,
#      the loss after the warm-up and at the end, the test metrics, the benchmark ratios.
#
# Usage: bash tools/misc/gpu_check.sh [--dry-run] [--out DIR] [--iters N] [--batch-size B]
#                                     [--num-train N] [--random-weights] [--device cuda|cpu]
#   --dry-run         print every step's command, run the check step (files, config and
#                     options); needs no GPU and writes nothing
#   --out             work folder (default work_dirs/gpu_check; no spaces or commas)
#   --iters           training iterations, 50 or more (default 300)
#   --batch-size      global training batch (default 32, the recipe's)
#   --num-train       synthetic training images (default 600; val, testA and testB a tenth each)
#   --random-weights  do not try the hub for the pretrained ViT and BERT
#   --device cpu      the same steps on the CPU without AMP: a smoke run of the script only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

DRY_RUN=0 OUT=work_dirs/gpu_check ITERS=300 BATCH=32 NUM_TRAIN=600 DEVICE=cuda
RANDOM_WEIGHTS=()
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1; shift ;;
        --random-weights) RANDOM_WEIGHTS=(--random-weights); shift ;;
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
[ "$ITERS" -ge 50 ] || { echo "error: --iters must be 50 or more (the loss is logged every 10, after a warm-up)" >&2; exit 2; }
OUT=$(realpath -m "$OUT")  # relative to where the script is run from
cd "$ROOT"
# mmengine's --cfg-options drops spaces and splits at commas: the data path must have neither.
[[ "$OUT" =~ [[:space:],] ]] && { echo "error: --out '$OUT' holds a space or a comma, which" \
    "--cfg-options cannot pass; choose another folder" >&2; exit 2; }

CONFIG=configs/sg_vits16_refcoco.py
DATA="$OUT/data"
NUM_EVAL=$(( NUM_TRAIN / 10 > 0 ? NUM_TRAIN / 10 : 1 ))
# The recipe ramps the loss over 5000 iterations, then anneals the lr over the whole run:
# here over a tenth of the run (a multiple of the 10-iteration log window), then over the rest.
WARMUP=$(( ITERS / 100 * 10 > 10 ? ITERS / 100 * 10 : 10 ))

# The recipe, on the synthetic set, iteration-based, logging every 10 iterations.
OPTIONS=()
for loader in train val test; do
    OPTIONS+=("${loader}_dataloader.dataset.data_root=$DATA"
              "${loader}_dataloader.dataset.data_prefix.img_path=images")
done
TRAIN_OPTIONS=(train_cfg._delete_=True train_cfg.type=IterBasedTrainLoop
               "train_cfg.max_iters=$ITERS" "train_cfg.val_interval=$ITERS"
               "global_batch_size=$BATCH" "custom_hooks.0.warmup_iters=$WARMUP"
               param_scheduler.0.by_epoch=False param_scheduler.0.convert_to_iter_based=False
               "param_scheduler.0.hold_iters=$WARMUP" "param_scheduler.0.end=$ITERS"
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
show() {  # show NAME COMMAND...: the step's header and its command, shell-quoted
    STEPS+=("$1")
    printf '\n=== [gpu_check %4ss] %s\n+' "$SECONDS" "$1"; shift; printf ' %q' "$@"; printf '\n'
}
step() {  # step NAME COMMAND...: shows it, then runs it (output also in OUT/NAME.log) unless --dry-run
    show "$@"
    local name=$1; shift
    if [ "$DRY_RUN" = 0 ]; then
        "$@" 2>&1 | tee "$OUT/$name.log"
    fi
}

for file in "$CONFIG" tools/dataset_converters/make_synthetic_refer.py tools/train.py \
            tools/test.py tools/analysis_tools/benchmark.py tools/misc/gpu_check_report.py; do
    [ -f "$file" ] || { echo "error: $ROOT/$file not found" >&2; exit 1; }
done
PLAN_FILE=()
if [ "$DRY_RUN" = 0 ]; then
    mkdir -p "$OUT"
    PLAN_FILE=(--plan-file "$OUT/plan.json")
    if [ "$DEVICE" = cuda ]; then
        "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else
            'error: torch sees no GPU (torch ' + torch.__version__ + '); --device cpu runs the script on the CPU')"
    fi
fi

# check (also under --dry-run): where the recipe's pretrained ViT and BERT cannot be had
# (hub unreachable, or --random-weights), the options for random ones, printed on stdout;
# then the config with every option loaded and checked, what the run will be on stderr.
CHECK=("$PY" tools/misc/gpu_check_report.py check "$CONFIG" --data-root "$DATA"
       --iters "$ITERS" --batch-size "$BATCH" --warmup-iters "$WARMUP" "${RANDOM_WEIGHTS[@]}"
       "${PLAN_FILE[@]}" --cfg-options "${OPTIONS[@]}" "${TRAIN_OPTIONS[@]}")
show check "${CHECK[@]}"
ENCODERS=$("${CHECK[@]}" | sed -n 's/^cfg-option: //p')
if [ -n "$ENCODERS" ]; then
    mapfile -t ENCODER_OPTIONS <<< "$ENCODERS"
    OPTIONS+=("${ENCODER_OPTIONS[@]}")
fi
step data "$PY" tools/dataset_converters/make_synthetic_refer.py --out "$DATA" --image-size 384 \
    --num-train "$NUM_TRAIN" --num-val "$NUM_EVAL" --num-test "$NUM_EVAL" \
    --num-heldout-scenes "$NUM_EVAL" --seed 0
step train "$PY" tools/train.py "$CONFIG" --work-dir "$OUT/train" "${AMP[@]}" \
    --cfg-options "${OPTIONS[@]}" "${TRAIN_OPTIONS[@]}"
step test "$PY" tools/test.py "$CONFIG" "$OUT/train/iter_$ITERS.pth" --work-dir "$OUT/test" \
    --cfg-options "${OPTIONS[@]}"
step benchmark "$PY" tools/analysis_tools/benchmark.py "$CONFIG" --device "$DEVICE" "${BENCH[@]}" \
    --no-embedded-step \
    --out "$OUT/benchmark.json"
step summary "$PY" tools/misc/gpu_check_report.py summary "$OUT" --batch-size "$BATCH" \
    --warmup-iters "$WARMUP" --device "$DEVICE"
if [ "$DRY_RUN" = 1 ]; then
    echo "dry run: ${#STEPS[@]} steps (${STEPS[*]}) checked; nothing was run"
else
    echo "gpu_check done in ${SECONDS}s: $OUT/summary.md"
fi
