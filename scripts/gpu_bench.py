"""The GPU bench matrix of issue 8, in one process (scripts/gpu_check.sh calls it on the lent GPU).

Each variant is a TorchRunner configuration (precision, cuDNN autotuning, memory layout, CUDA
graphs, torch.compile) timed with `stream_derain.bench` at one size, model, batch and reuse
policy. A JSON line per variant is appended to --out as soon as it is measured, so a run cut
short still reports what it did. The device's ceilings (a large fp16 matrix product and a
device-to-device copy) are measured first: the achieved TFLOP/s are judged against them.

    python3 scripts/gpu_bench.py --out runs/gpu.jsonl            # the whole matrix
    python3 scripts/gpu_bench.py --out runs/gpu.jsonl --only compiled
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.bench import bench_end_to_end, bench_inference, matmul_peak_tflops, render_bench_clip
from stream_derain.checkpoint import load_model
from stream_derain.video import EncoderOptions


@dataclass(frozen=True)
class Variant:
    name: str
    model: str = "full"
    size: tuple[int, int] = (1080, 1920)
    fp16: bool = True
    cudnn_benchmark: bool = True
    channels_last: bool = True
    cuda_graphs: bool = False
    compile: bool = False
    batch: int = 1
    reuse: str = "none"
    encoders: tuple[str, ...] = ()  # end to end (`derain video` on a rendered clip) with each of these


P1080, P720, P4K = (1080, 1920), (720, 1280), (2160, 3840)
PLAIN = dict(cudnn_benchmark=False, channels_last=False)  # what a first torch port runs
ENCODERS = ("libx264", "libx264:veryfast", "h264_nvenc")  # codec[:preset]
VARIANTS = [
    # the paper's style of inference: fp32 eager, one frame at a time, no reuse
    Variant("full-fp32-eager", fp16=False, **PLAIN),
    Variant("full-fp16-eager", **PLAIN),
    Variant("full-fp16-autotune", channels_last=False),
    Variant("full-fp16-autotune-nhwc"),
    Variant("full-fp16-autotune-nhwc-graphs", cuda_graphs=True),
    Variant("full-fp32-eager-720p", size=P720, fp16=False, **PLAIN),
    Variant("full-fp16-eager-720p", size=P720, **PLAIN),
    Variant("full-fp16-autotune-nhwc-graphs-720p", size=P720, cuda_graphs=True),
    Variant("full-fp16-autotune-nhwc-graphs-keyframe6-b6", cuda_graphs=True, batch=6, reuse="keyframe:6",
            encoders=ENCODERS),
    Variant("lite-fp32-eager", model="lite", fp16=False, **PLAIN),
    Variant("lite-fp16-eager", model="lite", **PLAIN),
    Variant("lite-fp16-autotune-nhwc-graphs", model="lite", cuda_graphs=True),
    Variant("lite-fp32-eager-720p", model="lite", size=P720, fp16=False, **PLAIN),
    Variant("lite-fp16-eager-720p", model="lite", size=P720, **PLAIN),
    Variant("lite-fp16-autotune-nhwc-graphs-720p", model="lite", size=P720, cuda_graphs=True),
    Variant("lite-fp16-autotune-nhwc-graphs-4k", model="lite", size=P4K, cuda_graphs=True),
    Variant("lite-fp16-autotune-nhwc-graphs-keyframe6-b4", model="lite", cuda_graphs=True, batch=4,
            reuse="keyframe:6", encoders=ENCODERS),
    Variant("full-fp16-autotune-nhwc-compiled", compile=True),
    Variant("full-fp16-autotune-nhwc-compiled-keyframe6-b6", compile=True, batch=6, reuse="keyframe:6",
            encoders=("h264_nvenc", "libx264:veryfast")),
    Variant("lite-fp16-autotune-nhwc-compiled-4k", model="lite", size=P4K, compile=True),
    Variant("lite-fp16-autotune-nhwc-compiled-keyframe6-b4", model="lite", compile=True, batch=4, reuse="keyframe:6",
            encoders=("h264_nvenc", "libx264:veryfast")),
]


def ceilings(device: torch.device) -> dict:
    """Measured fp16 matrix-product rate and copy bandwidth (bytes read plus written)."""
    tflops = max(matmul_peak_tflops(device, torch.float16, size=8192, repeats=10) for _ in range(2))
    source = torch.empty(2**30, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    torch.cuda.synchronize(device)
    copy_tbs = 2 * source.numel() * 10 / (time.perf_counter() - start) / 1e12
    return {"matmul_fp16_tflops": tflops, "copy_tbs": copy_tbs}


CLIPS = tempfile.TemporaryDirectory(prefix="gpu-bench-")  # removed when the script ends


@functools.cache
def bench_clip(height: int, width: int, frames: int) -> Path:
    """One rendered clip per size, shared by the variants (rendering a 1080p clip takes seconds)."""
    return render_bench_clip(Path(CLIPS.name) / f"rain-{height}x{width}.mp4", height, width, frames)


def measure(variant: Variant, device: torch.device, frames: int, repeats: int, e2e_frames: int) -> dict:
    loaded = load_model(variant.model)
    dtype = torch.float16 if variant.fp16 else torch.float32
    started = time.perf_counter()
    runner = TorchRunner(loaded.generator, device, dtype, variant.channels_last, variant.cuda_graphs, variant.compile)
    torch.backends.cudnn.benchmark = variant.cudnn_benchmark  # after the runner, which turns it on for CUDA
    result = bench_inference(runner, loaded.generator, *variant.size, variant.batch, variant.reuse,
                             max(frames, variant.batch), repeats=repeats)
    record = {"variant": variant.name, "model_source": loaded.source, "runner": runner.name,
              "cudnn_benchmark": torch.backends.cudnn.benchmark, **result.to_dict(),
              "seconds_with_warmup": time.perf_counter() - started}
    record["end_to_end"] = {}
    for spec in variant.encoders:
        codec, _, preset = spec.partition(":")
        encoder = EncoderOptions(codec, preset=preset or None)
        try:
            e2e = bench_end_to_end(runner, loaded, *variant.size, variant.batch, variant.reuse, e2e_frames,
                                   encoder=encoder, clip=bench_clip(*variant.size, e2e_frames))
            record["end_to_end"][spec] = vars(e2e)
        except Exception as error:  # an encoder the machine lacks (NVENC) must not cost the rest
            record["end_to_end"][spec] = {"error": f"{type(error).__name__}: {error}"[:300]}
    del runner
    torch.cuda.empty_cache()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    parser.add_argument("--only", nargs="*", help="substrings of variant names to run")
    parser.add_argument("--skip", nargs="*", default=[], help="substrings of variant names to leave out")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--e2e-frames", type=int, default=96, help="frames of the end-to-end clip")
    parser.add_argument("--no-ceilings", action="store_true", help="skip the matmul and copy measurements")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_bench: no CUDA device")
    device = torch.device("cuda")
    chosen = [v for v in VARIANTS if (not args.only or any(s in v.name for s in args.only))
              and not any(s in v.name for s in args.skip)]
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def emit(record: dict) -> None:
        with args.out.open("a") as lines:
            lines.write(json.dumps(record) + "\n")

    if not args.no_ceilings:
        emit({"device": torch.cuda.get_device_name(device), "torch": torch.__version__, **ceilings(device)})
    for variant in chosen:
        try:
            record = measure(variant, device, args.frames, args.repeats, args.e2e_frames)
        except Exception as error:  # one failing variant must not cost the others' numbers
            record = {"variant": variant.name, "error": f"{type(error).__name__}: {error}"[:500]}
        emit(record)
        if "error" in record:
            print(f"{variant.name:50s} ERROR {record['error']}", flush=True)
            continue
        extra = "".join(f"  {spec} " + (f"{e2e['fps']:.1f} fps ({e2e['efficiency']:.2f}x)" if "fps" in e2e else "failed")
                        for spec, e2e in record["end_to_end"].items())
        print(f"{variant.name:50s} {record['fps_median']:8.1f} fps  ({record['fps_min']:.1f}-{record['fps_max']:.1f})"
              f"  {record['tflops']:6.1f} TFLOP/s  {record['peak_gpu_mib']:7.0f} MiB"
              f"  {record['seconds_with_warmup']:5.1f} s{extra}", flush=True)


if __name__ == "__main__":
    main()
