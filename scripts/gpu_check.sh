#!/usr/bin/env bash
# The GPU check, in one call of the device tool: install what the GPU image lacks from carried
# wheels, run the CUDA tests, bench `full` and `lite` with torch fp32 / fp16 / fp16 + CUDA
# graphs (and TensorRT where it is installed), and write every record under $OUT.
#
# Before the call, on the CPU machine, fetch PyAV for the image's Python 3.12 into .whl/
# (ignored by git):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       -d .whl av==18.1.0
# Then: run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site:$PWD
fi
derain() { python3 cli.py "$@"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.csv"
python3 -c "import torch, av; print('torch', torch.__version__, 'av', av.__version__)" | tee "$OUT/versions.txt"
timeout 120 python3 -m pytest -q -m cuda tests 2>&1 | tail -n 30 | tee "$OUT/cuda-tests.log"

bench() {  # name, then `derain bench` options
    local name=$1; shift
    timeout 150 python3 cli.py bench --device cuda --frames 16 --repeats 3 --json "$OUT/$name.json" "$@" \
        2>&1 | tail -n 8 | tee -a "$OUT/bench.log"
}
for model in full lite; do
    bench "$model-fp32" --model "$model" --backend torch --precision fp32 -r 720p -r 1080p
    bench "$model-fp16" --model "$model" --backend torch --precision fp16 -r 720p -r 1080p
    bench "$model-fp16-graphs" --model "$model" --backend torch --precision fp16 --cuda-graphs -r 720p -r 1080p
done
bench full-fp16-keyframe6 --model full --backend torch --precision fp16 --cuda-graphs --reuse keyframe:6 --batch 6 -r 1080p --e2e
bench lite-fp16-4k --model lite --backend torch --precision fp16 --cuda-graphs -r 4k
if python3 -c "import tensorrt" 2>/dev/null; then
    timeout 300 python3 cli.py build-engine --model full --out "$OUT/engines" --opt-shape 1x1080x1920 \
        --max-shape 1x1088x1920 | tee -a "$OUT/bench.log"
    bench full-tensorrt --model full --backend tensorrt -r 1080p
else
    echo "tensorrt: not installed on this machine" | tee -a "$OUT/bench.log"
fi
