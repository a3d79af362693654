#!/usr/bin/env bash
# `full`'s second stage on a lent GPU, from the stage-1 weights of an earlier session, then both
# scored on the judging sets `lite` is judged on (docs/TRAINING.md, "Next, in order (after
# `full`)"):
#
#   run(command="bash scripts/gpu_full_stage2.sh", carry=[".whl", "runs/full-gpu-h200.pt"], timeout_s=560)
#
# Stage 2 is scripts/gpu_train.sh with train/recipes/full-gpu-veil.toml (no ARN-only steps);
# its best weights come back as $OUT/full-gpu.pt. The scores go to $OUT/scores.txt: the 64-pair
# sets of scripts/candidate_report.sh that the rule reads, with stage 1 beside stage 2.
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-gpu-stage2}
STAGE1=${STAGE1:-runs/full-gpu-h200.pt}
SCORE_TIME=${SCORE_TIME:-110}
[[ -f "$STAGE1" ]] || { echo "gpu_full_stage2: $STAGE1 is missing (carry it)"; exit 1; }
RECIPE=${RECIPE:-train/recipes/full-gpu-veil.toml} ARN_SHARE=0 TEMPORAL=0 BUDGET=${BUDGET:-400} KEEP=${KEEP:-40} \
    bash scripts/gpu_train.sh || exit 1
[[ -f "$OUT/full-gpu.pt" ]] || { echo "gpu_full_stage2: no full-gpu.pt came out of stage 2 (see $OUT/train.log)"; exit 1; }
if ! python3 -c "import av" 2>/dev/null; then export PYTHONPATH=/tmp/site:$PWD; fi  # gpu_train.sh installed PyAV there
score() { timeout "$SCORE_TIME" python3 scripts/val_score.py --device "${DEVICE:-cuda}" "$@" lite "$STAGE1" "$OUT/full-gpu.pt" 2>&1 | tee -a "$OUT/scores.txt"; }
VEIL=(--set 'data.veil=[0.03,0.22]' --set data.veil_spread=32 --set data.veil_chance=0.5)
score --recipe train/recipes/lite.toml --set data.val_pairs=64 "${VEIL[@]}"
score --recipe train/recipes/lite.toml --set data.val_pairs=64
score --recipe train/recipes/lite-stage2.toml --set data.val_pairs=64
score --recipe train/recipes/lite.toml --set data.val_pairs=64 --set 'data.blur_sigma=[9,16]' --set data.mask_threshold=10
echo "gpu_full_stage2: done in ${SECONDS} s" | tee -a "$OUT/scores.txt"
