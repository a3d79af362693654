"""ONNX Runtime against torch eager on the CPU: one frame (N ARN steps + restore), same input, one run.

    python scripts/bench_ort.py --preset lite --preset full --size 480x720 --repeats 5

The two runners alternate, one frame each, so a load spike from elsewhere on the machine hits
both alike; each reports the median over `repeats` frames after `warmup` frames.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from stream_derain.backends.base import Runner
from stream_derain.backends.onnxruntime_runner import cpu_threads, onnxruntime_runner_for
from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.models import build_generator


def one_frame(runner: Runner, x: torch.Tensor) -> torch.Tensor:
    state = runner.init_state(x)
    for _ in range(runner.config.steps):
        state = runner.attend_step(x, state)
    return runner.restore(x, state.mask)


def compare(preset: str, height: int, width: int, repeats: int = 5, warmup: int = 1) -> dict:
    """Median seconds per frame for torch eager and ONNX Runtime (CPU) on the same random frame."""
    torch.manual_seed(0)
    generator = build_generator(preset).eval()
    # Untrained `lite` starts with a zero output layer (y = x); random weights make the
    # outputs, and so the difference between runtimes, depend on the whole network.
    torch.nn.init.normal_(generator.autoencoder.output.weight, std=0.01)
    x = torch.rand(1, 3, height, width)
    with tempfile.TemporaryDirectory() as folder:
        runners = {"torch": TorchRunner(generator), "onnxruntime": onnxruntime_runner_for(generator, folder=Path(folder))}
        outputs = {name: one_frame(runner, x) for name, runner in runners.items()}
        for _ in range(warmup - 1):
            for runner in runners.values():
                one_frame(runner, x)
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(repeats):
            for name, runner in runners.items():
                start = time.perf_counter()
                one_frame(runner, x)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "preset": preset,
        "size": f"{height}x{width}",
        "threads": cpu_threads(),
        "torch_s": medians["torch"],
        "onnxruntime_s": medians["onnxruntime"],
        "speedup": medians["torch"] / medians["onnxruntime"],
        "max_abs_diff": float((outputs["torch"] - outputs["onnxruntime"]).abs().max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help="lite, full (repeatable; default both)")
    parser.add_argument("--size", default="480x720", help="HxW, a multiple of the preset's padding")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    height, width = map(int, args.size.split("x"))
    torch.set_num_threads(cpu_threads())
    print(f"torch {torch.__version__}, {cpu_threads()} threads")
    print("| preset | size | torch eager (s/frame) | ONNX Runtime (s/frame) | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|")
    for preset in args.preset or ["lite", "full"]:
        r = compare(preset, height, width, args.repeats, args.warmup)
        print(
            f"| {r['preset']} | {r['size']} | {r['torch_s']:.3f} | {r['onnxruntime_s']:.3f} | "
            f"{r['speedup']:.2f}x | {r['max_abs_diff']:.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
