"""Tiling on a GPU, for docs/RELIABILITY.md: whole frames against tiles (time, peak memory, the
largest difference) at 8K with lite and at 4K and 1080p with full; random weights, no residual,
so every pixel goes through every layer. The tile budget is half the whole frame's estimate.

    PYTHONPATH=. python3 scripts/tiling_check.py    (needs CUDA; one JSON line per case, then all)
"""

from __future__ import annotations

import dataclasses
import json
import time

import torch

from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.models import PRESETS, Generator
from stream_derain.temporal import full_pass
from stream_derain.tiling import GIB, TiledRunner, bytes_per_pixel, memory_budget, plan_tile

DEVICE = torch.device("cuda")
CASES = [("lite", 4320, 7680, torch.float32), ("lite", 4320, 7680, torch.float16),
         ("full", 2160, 3840, torch.float16), ("full", 1080, 1920, torch.float32)]


def run(runner, x: torch.Tensor) -> tuple[torch.Tensor, float, int]:
    """Output, seconds, and peak bytes allocated beyond what was held before."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    started = time.perf_counter()
    with torch.inference_mode():
        y = runner.restore(x, full_pass(x, runner).mask)
    torch.cuda.synchronize()
    return y, time.perf_counter() - started, torch.cuda.max_memory_allocated() - base


def main() -> None:
    report = {"gpu": torch.cuda.get_device_name(), "budget_gib": memory_budget(DEVICE) / GIB, "cases": []}
    for preset, height, width, dtype in CASES:
        torch.manual_seed(0)
        runner = TorchRunner(Generator(dataclasses.replace(PRESETS[preset], residual=False, gate=False)).eval(), DEVICE, dtype)
        yy, xx = torch.meshgrid(torch.linspace(0, 1, height, device=DEVICE), torch.linspace(0, 1, width, device=DEVICE), indexing="ij")
        x = (torch.stack([xx, yy, xx * yy]) * 0.8 + 0.2 * torch.rand(3, height, width, device=DEVICE)).unsqueeze(0).to(dtype)
        estimate = bytes_per_pixel(runner.config, dtype, "cuda") * height * width
        case = {"preset": preset, "size": f"{width}x{height}", "dtype": str(dtype).removeprefix("torch."), "estimate_gib": estimate / GIB}
        run(runner, x[..., :512, :512])  # cuDNN's algorithm search, outside the timing
        whole, case["whole_s"], peak = run(runner, x)
        case.update(whole_peak_gib=peak / GIB, measured_bytes_per_px=peak / (height * width))
        torch.cuda.empty_cache()
        side = plan_tile(runner, height, width, tile="auto", budget=int(estimate / 2))
        tiled_runner = TiledRunner(runner, side)
        run(tiled_runner, x[..., :1024, :1024])
        tiled, case["tiled_s"], peak = run(tiled_runner, x)
        difference = (tiled.float() - whole.float()).abs() * 255
        case.update(tile=side, overlap=tiled_runner.overlap, tiled_peak_gib=peak / GIB, tiled_budget_gib=estimate / 2 / GIB,
                    tiled_vs_whole_max_grey=difference.max().item(), tiled_vs_whole_mean_grey=difference.mean().item())
        report["cases"].append(case)
        print(json.dumps(case), flush=True)
        del runner, tiled_runner, x, whole, tiled, difference
        torch.cuda.empty_cache()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
