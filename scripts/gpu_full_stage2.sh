#!/usr/bin/env bash
# `full`'s second stage on a lent GPU, from the stage-1 weights of an earlier session, in variants
# side by side, each a name and its `--set` arguments; by default as trained so far, and with the
# second attention map (model.map_zoom = 0.5, the one lever that moved the residual inside real
# drops for `lite`, docs/TRAINING.md runs 50/51). All are then scored on the judging sets `lite`
# is judged on:
#
#   run(command="bash scripts/gpu_full_stage2.sh", carry=[".whl", "runs/full-gpu-h200.pt"], timeout_s=560)
#   run(command="BUDGET=190 bash scripts/gpu_full_stage2.sh slow '--set model.map_zoom=0.5 --set optim.lr=3e-5' ...", ...)
#
# Each stage 2 is scripts/gpu_train.sh with train/recipes/full-gpu-veil.toml (no ARN-only steps)
# and the render workers shared out; its best weights come back as $OUT/<name>/full-gpu.pt (the
# tool brings back 8 files: two variants at most; with KEEP_VALS=4, one variant and four of its
# validations' weights, see gpu_train.sh). The scores go to $OUT/scores.txt: the 64-pair sets of
# scripts/candidate_report.sh that the rule reads.
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-gpu-stage2}
STAGE1=${STAGE1:-runs/full-gpu-h200.pt}
SCORE_TIME=${SCORE_TIME:-120}
[[ -f "$STAGE1" ]] || { echo "gpu_full_stage2: $STAGE1 is missing (carry it)"; exit 1; }
mkdir -p "$OUT"
source scripts/gpu_wheels.sh  # once, before the runs
(($#)) || set -- plain "" zoom "--set model.map_zoom=0.5"
names=()
stage2() {  # variant name, its --set arguments
    local name=$1
    OUT="$OUT/$name" RUN="/tmp/stage2-$name" PROBE="/tmp/probe-$name" SETS="--set data.workers=${WORKERS:-7} $2" \
        RECIPE=${RECIPE:-train/recipes/full-gpu-veil.toml} ARN_SHARE=0 TEMPORAL=0 BUDGET=${BUDGET:-380} KEEP=${KEEP:-30} \
        bash scripts/gpu_train.sh >/dev/null
    rm -f "$OUT/$name/probe-metrics.jsonl"  # the tool brings back 8 files at most
}
while (($# >= 2)); do
    names+=("$1")
    stage2 "$1" "$2" &
    shift 2
done
wait
tail -n 3 "$OUT"/*/train.log
models=()
for name in "${names[@]}"; do [[ -f "$OUT/$name/full-gpu.pt" ]] && models+=("$OUT/$name/full-gpu.pt"); done
((${#models[@]})) || { echo "gpu_full_stage2: no weights came out of stage 2 (see $OUT/*/train.log)"; exit 1; }
score() {  # one judging set, all models; the sets run side by side, each printed whole
    local file=/tmp/score-$BASHPID.txt  # named here: a redirection would expand it in the child
    timeout "$SCORE_TIME" python3 scripts/val_score.py --device "${DEVICE:-cuda}" "$@" lite "$STAGE1" "${models[@]}" \
        >"$file" 2>&1
    cat "$file"
}
{
    for set in "bright-veil mixed" "lite.toml" "lite-stage2.toml" "soft, 9..16"; do  # scripts/judging_sets.py
        score --judging-set "$set" &
    done
    wait
} >"$OUT/scores.txt"
cat "$OUT/scores.txt"
echo "gpu_full_stage2: done in ${SECONDS} s" | tee -a "$OUT/scores.txt"
