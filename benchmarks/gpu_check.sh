#!/usr/bin/env bash
# The GPU check of issue 16, one script, a few minutes (docs/performance.md, "GPU
# check"): install VISSL from a wheel folder, then the GPU tests, SEER 1.3B through
# the launcher for ~20 iterations, the throughput benchmark (ours against stock in
# one process, the levers, bf16, batch 32, batch 64 with activation checkpointing),
# the numerics of the fast setup, the Sinkhorn micro-benchmark, and a report:
# <out>/docs/perf/<device>_<date>.json and a short table, printed last.
#
#   benchmarks/gpu_check.sh [--out DIR] [--wheels DIR] [--budget SECONDS]
#   benchmarks/gpu_check.sh --dry-run      # the same steps on CPU, tiny preset
#
# --out: default $OUT if set, else ./gpu_check_out. --wheels: default .whl (built by
# benchmarks/make_gpu_wheels.sh); --dry-run runs in the current environment unless
# --wheels is given (then it installs them as on the GPU: a bare Python with torch
# checks the folder). $PYTHON picks the interpreter. Every step has a time limit
# (`timeout` ends its whole process group); a failed or timed-out step is recorded
# with its log and the next one runs. Steps are ordered by importance: when the
# budget (default 510 s, 270 s dry) runs out, the remaining ones are skipped.
set -uo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
DRY_RUN=0
OUT_DIR="${OUT:-$REPO/gpu_check_out}"
WHEELS="$REPO/.whl"
WHEELS_GIVEN=0
BUDGET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1; shift ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    --wheels) WHEELS="$2"; WHEELS_GIVEN=1; shift 2 ;;
    --budget) BUDGET="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (valid: --dry-run, --out DIR, --wheels DIR, --budget S)" >&2; exit 2 ;;
  esac
done
OUT_DIR="$(mkdir -p "$OUT_DIR" && cd "$OUT_DIR" && pwd)"
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
SITE="${SEER_GPU_SITE:-/tmp/seer_gpu_check_site}"  # not under OUT: it is not sent back
RESERVE=20  # seconds kept for the report
mkdir -p "$OUT_DIR/logs" "$OUT_DIR/results"
STEPS="$OUT_DIR/steps.tsv"
: > "$STEPS"
START=$(date +%s)

if [ "$DRY_RUN" = 1 ]; then
  BUDGET="${BUDGET:-270}"
  # CPU: the tiny preset and crops; "fp16" runs in fp32 (autocast fp16 is for GPUs).
  TP=(--device cpu --preset regnety_tiny --crops 2x32,4x16 --iters 2 --warmup 1
      --threads 1 --matmul-n 256)
  B16=4; B32=8; B64=16; FP16=none; PAD=16; COMPILE_CAP=25
  LAUNCH=(config=pretrain/seer_1b +config/pretrain/seer/runtime=cpu
          config/pretrain/seer/models=regnety_tiny
          "config.DATA.TRAIN.TRANSFORMS.0.size_crops=[32,16]")
  LAUNCH_BATCH=8; LAUNCH_ITERS=6; SYNC_AT=3
  CKPT_ROOT="${TMPDIR:-/tmp}"
else
  BUDGET="${BUDGET:-510}"
  TP=(--device cuda --iters 10 --warmup 3)
  B16=16; B32=32; B64=64; FP16=fp16; PAD=8; COMPILE_CAP=150
  LAUNCH=(config=pretrain/seer_1b)  # fp16, SyncBN, LARC, activation checkpointing
  LAUNCH_BATCH=16; LAUNCH_ITERS=20; SYNC_AT=15
  # The final checkpoint (~11 GB for SEER 1.3B) goes to memory when there is room;
  # data loader workers pass batches through /dev/shm (containers often give 64 MB).
  SHM_KB="$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')"
  SHM_KB="${SHM_KB:-0}"
  CKPT_ROOT=/tmp
  [ "$SHM_KB" -gt 20000000 ] && [ -w /dev/shm ] && CKPT_ROOT=/dev/shm
  if [ "$SHM_KB" -lt 4000000 ]; then
    echo "gpu_check: /dev/shm has $((SHM_KB / 1024)) MB free: data loading in the main process"
    LAUNCH+=(config.DATA.NUM_DATALOADER_WORKERS=0)
  fi
fi
LEVERS=(--cudnn-benchmark --pad-group-width-to "$PAD" --channels-last)

elapsed() { echo $(( $(date +%s) - START )); }

record() {  # record NAME STATUS SECONDS LOG COMMAND
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$STEPS"
  printf '== %-16s %-22s %4ss  %s\n' "$1" "$2" "$3" "$4"
}

step() {  # step NAME LIMIT COMMAND...: run with a time limit, record, go on
  local name="$1" limit="$2"
  shift 2
  local log="logs/$name.log" left=$(( BUDGET - RESERVE - $(elapsed) ))
  if [ "$left" -lt 15 ]; then
    record "$name" "SKIPPED (budget)" 0 "-" "$*"
    return
  fi
  [ "$limit" -gt "$left" ] && limit="$left"
  local t0 rc status
  t0=$(date +%s)
  echo "\$ $*" > "$OUT_DIR/$log"
  timeout --kill-after=10 "$limit" "$@" >> "$OUT_DIR/$log" 2>&1
  rc=$?
  case "$rc" in
    0) status=OK ;;
    124|137) status="TIMEOUT (${limit}s)" ;;
    *) status="FAILED (rc $rc)" ;;
  esac
  record "$name" "$status" $(( $(date +%s) - t0 )) "$log" "$*"
}

throughput() {  # throughput NAME LIMIT ARGS...: benchmarks/throughput.py, JSON kept
  local name="$1" limit="$2"
  shift 2
  step "$name" "$limit" "$PYTHON" benchmarks/throughput.py "${TP[@]}" "$@" \
    --json "$OUT_DIR/results/$name.json"
}

launcher() {  # launcher NAME LIMIT ITERATIONS EXTRA_OVERRIDES...
  local name="$1" limit="$2" iters="$3"
  shift 3
  local ckpt="$CKPT_ROOT/seer_gpu_check_$name"
  rm -rf "$ckpt"
  step "$name" "$limit" "$PYTHON" tools/run_distributed_engines.py "${LAUNCH[@]}" \
    config.DISTRIBUTED.NUM_NODES=1 config.DISTRIBUTED.NUM_PROC_PER_NODE=1 \
    "config.DATA.TRAIN.DATA_SOURCES=[synthetic]" "config.DATA.TRAIN.DATASET_NAMES=[synthetic]" \
    "config.DATA.TRAIN.LABEL_SOURCES=[]" "config.DATA.TRAIN.LABEL_PATHS=[]" \
    "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=$LAUNCH_BATCH" \
    "config.DATA.TRAIN.DATA_LIMIT=$(( iters * LAUNCH_BATCH ))" config.OPTIMIZER.num_epochs=1 \
    config.LOG_FREQUENCY=1 config.HOOKS.SEER_THROUGHPUT.LOG_FREQUENCY=5 \
    "config.HOOKS.SEER_THROUGHPUT.COUNT_HOST_SYNCS_AT=$SYNC_AT" \
    "config.CHECKPOINT.DIR=$ckpt" config.CHECKPOINT.AUTO_RESUME=False "$@"
  rm -rf "$ckpt"  # the final checkpoint (~11 GB for SEER 1.3B) is not kept
}

echo "gpu_check: out $OUT_DIR, budget ${BUDGET}s, dry run $DRY_RUN, python $PYTHON"

# -- 1. VISSL and its pure-Python needs, from the wheel folder -----------------------
if [ "$DRY_RUN" = 1 ] && [ "$WHEELS_GIVEN" = 0 ]; then
  record install "SKIPPED (dry run)" 0 "-" "the current environment"
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
elif ! ls "$WHEELS"/*.whl > /dev/null 2>&1; then
  record install "FAILED (no wheels)" 0 "-" \
    "no $WHEELS/*.whl: run benchmarks/make_gpu_wheels.sh, carry .whl"
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
  rm -rf "$SITE"
  built_for="$(sed -n 's/^python_version=//p' "$WHEELS/MANIFEST.txt" 2>/dev/null)"
  running="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  [ -z "$built_for" ] || [ "$built_for" = "$running" ] || echo "gpu_check: the" \
    "wheels were built for Python $built_for, this is $running"
  step install 120 "$PYTHON" -m pip install --no-index --no-deps --no-compile -q \
    --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH="$REPO:$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
step environment 60 "$PYTHON" -m seer_plugins.apps.throughput.gpu_report \
  --out "$OUT_DIR" --environment
[ "$DRY_RUN" = 1 ] || nvidia-smi > "$OUT_DIR/logs/nvidia-smi.log" 2>&1

# -- 2. The throughput benchmark: ours against stock in one process, then levers ----
# The main figure: padded groups + channels_last + cudnn benchmark, fp16, batch 16,
# against stock (cudnn benchmark too) in the same process; host syncs of one step.
throughput tp_levers 240 --amp "$FP16" --batch "$B16" "${LEVERS[@]}" --count-syncs
# Memory: batch 64 with activation checkpointing, peak GB.
throughput tp_b64_ckpt 150 --only ours --amp "$FP16" --batch "$B64" "${LEVERS[@]}" \
  --activation-checkpointing

# -- 3. SEER 1.3B through the launcher, as configured, ~20 iterations ---------------
launcher seer_1b 240 "$LAUNCH_ITERS"

# -- 4. More of the benchmark: the plain setup (also the numerics' reference), bf16,
# batch 32.
throughput tp_plain 120 --only ours --amp "$FP16" --batch "$B16"
throughput tp_bf16 120 --only ours --amp bf16 --batch "$B16" "${LEVERS[@]}"
throughput tp_bf16_b32 120 --only ours --amp bf16 --batch "$B32" "${LEVERS[@]}"

# -- 5. The GPU tests (they skip without CUDA) --------------------------------------
mapfile -t GPU_TESTS < <(grep -l "@needs_gpu" tests/test_*.py)
step gpu_tests 150 "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu "${GPU_TESTS[@]}"

# -- 6. Smaller levers, while the budget lasts --------------------------------------
step sinkhorn 60 "$PYTHON" benchmarks/throughput.py "${TP[@]}" --sinkhorn \
  --batch "$B16" --json "$OUT_DIR/results/sinkhorn.json"
throughput tp_fused_sgd 120 --only ours --amp "$FP16" --batch "$B16" "${LEVERS[@]}" \
  --sgd-impl fused
throughput tp_compile $(( COMPILE_CAP + 30 )) --only ours --amp "$FP16" --batch "$B16" \
  "${LEVERS[@]}" --compile --time-limit "$COMPILE_CAP"

# -- 7. seer_1b sharded (MODEL.SEER_FSDP, FSDP2 on one GPU) for a few iterations -----
read -r -a SHARDED <<< "${SEER_SHARDED_OVERRIDES:-config.MODEL.SEER_FSDP.ENABLED=True}"
launcher seer_1b_sharded 180 8 "${SHARDED[@]}"

# -- 8. The report, printed last -----------------------------------------------------
echo "gpu_check: steps done in $(elapsed)s"
echo
"$PYTHON" -m seer_plugins.apps.throughput.gpu_report --out "$OUT_DIR" \
  --amp "$FP16" $([ "$DRY_RUN" = 1 ] && echo --dry-run)
