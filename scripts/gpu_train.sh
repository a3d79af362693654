#!/usr/bin/env bash
# Train `full` on a lent GPU inside one device call, and bring the weights back.
#
#   run(command="bash scripts/gpu_train.sh", carry=[".whl"], timeout_s=560)
#
# 1. A probe run times the two kinds of step (ARN alone, then the whole generator) and the
#    start-up, on this machine.
# 2. The real run (RECIPE, default train/recipes/full-gpu.toml) gets as many steps as the time
#    left allows, with ARN_SHARE of them in the ARN-only phase, so its learning-rate schedule
#    ends when the time does. A run that still outlasts its time is stopped; best.pt holds its
#    best validation so far.
# 3. Under $OUT (the device tool's limit is 8 files of 16 MiB): the best weights in float16
#    (full-gpu.pt, 12.5 MB), the run's metrics and log, and scripts/measure_temporal.py on them.
#    With KEEP_VALS=N, also N of the run's validations' weights (run.keep_every_val), spread from
#    the first to the last, in float16 as val-STEP.pt: a run's course, to score on other sets.
#
# The whole script keeps to BUDGET seconds; KEEP of them are kept for step 3. .whl holds PyAV for
# the image's Python (scripts/gpu_check.sh says how to fetch it): the renderer reads video sources.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-train}
RECIPE=${RECIPE:-train/recipes/full-gpu.toml}
RUN=${RUN:-/tmp/full-gpu}
PROBE=${PROBE:-/tmp/full-gpu-probe}
BUDGET=${BUDGET:-520}
KEEP=${KEEP:-100}
ARN_SHARE=${ARN_SHARE:-0.3}
MIN_STEPS=${MIN_STEPS:-200}  # fewer would not be a run worth bringing back
TEMPORAL=${TEMPORAL:-1}      # 0: skip measure_temporal (scripts/gpu_full_stage2.sh scores instead)
DEVICE=${DEVICE:-cuda}
KEEP_VALS=${KEEP_VALS:-0}
read -r -a SETS <<<"${SETS:-}"  # more `--set key=value` for both runs, e.g. two variants side by side
VAL_SETS=()
((KEEP_VALS > 0)) && VAL_SETS=(--set run.keep_every_val=true)
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
source scripts/gpu_wheels.sh
log() { echo "gpu_train: $*" | tee -a "$OUT/train.log"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$OUT/train.log"
rm -rf "$RUN" "$PROBE"

# 1. the probe: 40 ARN-only steps, then 60 whole-generator steps, no validation
probe_start=$SECONDS
df -h /dev/shm 2>&1 | tail -n 1 | tee -a "$OUT/train.log"  # DataLoader workers hand batches over through it
timeout $((BUDGET / 3)) python3 cli.py train --recipe "$RECIPE" --out "$PROBE" --device "$DEVICE" --stop-at 100 \
    --set optim.arn_pretrain=40 --set run.val_every=0 --set run.log_every=10 --set run.ckpt_every=1000 \
    "${SETS[@]}" >>"$OUT/train.log" 2>&1 || { log "the probe failed (exit $?): see train.log"; exit 1; }
probe_wall=$((SECONDS - probe_start))
cp "$PROBE/metrics.jsonl" "$OUT/probe-metrics.jsonl"

# 2. the run, sized to the time left
plan=$(python3 - "$PROBE/metrics.jsonl" "$probe_wall" "$((BUDGET - SECONDS - KEEP))" "$ARN_SHARE" 2>>"$OUT/train.log" <<'EOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
time = {r["step"]: r["time"] for r in records if "time" in r}
probe_wall, seconds, share = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
arn_step = (time[40] - time[20]) / 20   # the first steps of each phase warm up: left out
joint_step = (time[100] - time[60]) / 40
# everything else the probe spent: imports, sources, workers, and the warm-up steps
startup = probe_wall - 40 * arn_step - 60 * joint_step
per_step = share * arn_step + (1 - share) * joint_step
steps = int(0.92 * (seconds - startup) / per_step)  # 8% for validation and checkpoints
val = max(50, steps // 8 // 50 * 50)
print(steps, round(share * steps), val)
print(f"ARN step {arn_step * 1000:.0f} ms, whole step {joint_step * 1000:.0f} ms, start-up {startup:.0f} s: "
      f"{steps} steps fit in {seconds:.0f} s")
EOF
)
if [[ -z "$plan" ]]; then log "the probe's timings could not be read: see train.log"; exit 1; fi
log "probe: $(tail -n 1 <<<"$plan")"
read -r STEPS ARN VAL <<<"$(head -n 1 <<<"$plan")"
if [[ -z "${STEPS:-}" ]] || ((STEPS < MIN_STEPS)); then log "not enough time for a run (${STEPS:-no} steps)"; exit 1; fi
log "training $STEPS steps ($ARN ARN-only), validating every $VAL"
timeout $((BUDGET - SECONDS - KEEP + 20)) python3 cli.py train --recipe "$RECIPE" --out "$RUN" --device "$DEVICE" --steps "$STEPS" \
    --set optim.arn_pretrain="$ARN" --set run.val_every="$VAL" "${SETS[@]}" "${VAL_SETS[@]}" >>"$OUT/train.log" 2>&1 \
    || log "training ended with exit $? (124: stopped at its time; best.pt is its best validation so far)"
cp "$RUN/metrics.jsonl" "$OUT/metrics.jsonl" 2>/dev/null

# 3. the weights, and the reuse policies on them
if [[ ! -f "$RUN/best.pt" ]]; then log "no best.pt: no validation ran"; exit 1; fi
python3 scripts/half_weights.py "$RUN/best.pt" "$OUT/full-gpu.pt" 2>&1 | tee -a "$OUT/train.log" \
    || { log "half_weights failed"; exit 1; }
if ((KEEP_VALS > 0)); then
    mapfile -t vals < <(find "$RUN" -maxdepth 1 -name 'val-*.pt' | sort -V)
    n=${#vals[@]}
    k=$((KEEP_VALS < n ? KEEP_VALS : n))
    for ((i = 0; i < k; i++)); do
        pick=${vals[$((k > 1 ? i * (n - 1) / (k - 1) : n - 1))]}
        python3 scripts/half_weights.py "$pick" "$OUT/$(basename "$pick")" >>"$OUT/train.log" 2>&1 \
            || log "half_weights failed on $pick"
    done
fi
left=$((BUDGET - SECONDS))
if ((TEMPORAL == 0)); then
    :
elif ((left > 30)); then
    timeout "$left" python3 scripts/measure_temporal.py --model "$OUT/full-gpu.pt" --size 240x320 --frames 24 --clips 3 \
        --repeats 3 --device "$DEVICE" --json "$OUT/temporal.json" >"$OUT/temporal.md" 2>&1 \
        || log "measure_temporal: exit $? (124: out of time)"
else
    log "no time left for measure_temporal"
fi
log "done in ${SECONDS} s"
