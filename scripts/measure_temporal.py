"""Measure the attention-reuse policies on rendered rainy video with ground truth.

For each model and policy: PSNR and SSIM against the clean frames (the paper's protocol),
temporal flicker (mean |(out_t - out_t-1) - (clean_t - clean_t-1)|), inference fps (best of
--repeats runs, since a shared machine only ever slows a run down), the ARN steps per frame and
the speed-up they imply from MAC counts (noise-free), and how far each policy's output is from
`none`'s (PSNR against it: how much reuse changes the result).
Clips: photos shipped in installed packages, filmed by a panning/shaking camera
(`synth.camera_frames`), with drops rendered on the glass by `synth.RainyClip` (they stay,
slide and land while the scene moves).

    python scripts/measure_temporal.py --model full --model lite --size 240x320 --frames 24
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream_derain.backends.select import select_runner  # noqa: E402
from stream_derain.bench import CountingRunner  # noqa: E402
from stream_derain.checkpoint import load_model  # noqa: E402
from stream_derain.cost import count_macs, macs_per_frame  # noqa: E402
from stream_derain.frames import crop_to, frames_to_tensor, pad_to_multiple, tensor_to_frames  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from stream_derain.metrics import flicker, psnr_y, luma, score  # noqa: E402
from stream_derain.synth import RainyClip, available_sources, camera_frames, read_rgb  # noqa: E402
from stream_derain.temporal import parse_policy  # noqa: E402

POLICIES = ["none", "keyframe:4", "keyframe:6", "keyframe:8", "recurrent:1", "recurrent:2", "adaptive:8:0.03", "adaptive"]


def rendered_clips(count: int, frames: int, size: tuple[int, int], seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rain, clean) stacks of (T, H, W, 3) uint8, one per clean photo."""
    clips = []
    for index, (source, path) in enumerate(available_sources("image")[:count]):
        image = read_rgb(path)
        rng = np.random.default_rng(seed + index)
        clean = list(camera_frames(image, rng, frames, size, motion="mixed"))
        rainy = RainyClip(rng)
        rain = [rainy.render(frame).rain for frame in clean]
        clips.append((source.name, np.stack(rain), np.stack(clean)))
    if not clips:
        raise SystemExit("no clean photos installed (scikit-image provides them)")
    return clips


def run_policy(runner, spec: str, rain: np.ndarray, batch: int) -> tuple[np.ndarray, float]:
    """Derained frames of one clip, and the seconds spent in the model (upload to download)."""
    policy = parse_policy(spec)
    outputs, seconds = [], 0.0
    with torch.inference_mode():
        for start in range(0, len(rain), batch):
            begin = time.perf_counter()
            x, size = pad_to_multiple(frames_to_tensor(rain[start : start + batch], runner.device, runner.dtype), runner.config.pad_multiple)
            outputs.append(tensor_to_frames(crop_to(runner.restore(x, policy.masks(x, runner)), size)))
            seconds += time.perf_counter() - begin
    return np.concatenate(outputs), seconds


def measure(model: str, clips, policies: list[str], batch: int, device: str, repeats: int) -> dict:
    loaded = load_model(model)
    runner = CountingRunner(select_runner(loaded.generator, "torch", device))
    run_policy(runner, "none", clips[0][1][:batch], batch)  # warm-up: allocator, oneDNN kernels
    height, width = clips[0][1].shape[1:3]
    macs = count_macs(Generator(loaded.generator.config).to("meta"), height, width)
    rows = {}
    reference: dict[str, np.ndarray] = {}
    for spec in policies:
        psnrs, ssims, flickers, drift, seconds, count = [], [], [], [], 0.0, 0
        runner.reset_counts()
        for name, rain, clean in clips:
            runs = [run_policy(runner, spec, rain, batch) for _ in range(repeats)]
            out = runs[0][0]
            seconds += min(spent for _, spent in runs)
            count += len(out)
            scores = [score(o, c) for o, c in zip(out, clean)]
            psnrs += [s.psnr for s in scores]
            ssims += [s.ssim for s in scores]
            flickers.append(flicker(out, clean))
            if spec == "none":
                reference[name] = out
            drift += [psnr_y(luma(o), luma(r)) for o, r in zip(out, reference[name])]
        steps = runner.arn_steps_per_frame
        finite = [d for d in drift if math.isfinite(d)]
        rows[spec] = {
            "psnr": float(np.mean(psnrs)),
            "ssim": float(np.mean(ssims)),
            "flicker": float(np.mean(flickers)),
            "fps": count / seconds,
            "arn_steps_per_frame": steps,
            "gmac_per_frame": macs_per_frame(loaded.generator.config, height, width, steps) / 1e9,
            "psnr_vs_none": float(np.mean(finite)) if finite else math.inf,
        }
        print(f"  {model:5} {spec:16} {rows[spec]['fps']:7.2f} fps", file=sys.stderr, flush=True)
    base = rows["none"]
    for row in rows.values():
        row["speedup"] = row["fps"] / base["fps"]
        row["mac_speedup"] = base["gmac_per_frame"] / row["gmac_per_frame"]
        row["delta_psnr"] = row["psnr"] - base["psnr"]
        row["delta_flicker"] = row["flicker"] - base["flicker"]
    return {
        "model": loaded.source,
        "trained": loaded.trained,
        "device": str(runner.device),
        "arn_share": macs["arn"] / macs["total"],
        "policies": rows,
    }


def input_row(clips) -> dict:
    psnrs, ssims, flickers = [], [], []
    for _, rain, clean in clips:
        scores = [score(r, c) for r, c in zip(rain, clean)]
        psnrs += [s.psnr for s in scores]
        ssims += [s.ssim for s in scores]
        flickers.append(flicker(rain, clean))
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "flicker": float(np.mean(flickers))}


def markdown(result: dict) -> str:
    lines = []
    inp = result["input"]
    lines.append(f"Rainy input against clean: PSNR {inp['psnr']:.2f} dB, SSIM {inp['ssim']:.4f}, flicker {inp['flicker']:.5f}\n")
    for model in result["models"]:
        state = "trained" if model["trained"] else "UNTRAINED: quality columns are not meaningful"
        lines.append(f"**{model['model']}** ({state}), {model['device']}, ARN {model['arn_share']:.0%} of a full pass\n")
        lines.append(
            "| policy | ARN steps/frame | GMAC/frame | MAC speed-up | fps | measured speed-up "
            "| PSNR | dPSNR | SSIM | flicker | dflicker | PSNR vs none's output |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for spec, r in model["policies"].items():
            vs_none = "identical" if math.isinf(r["psnr_vs_none"]) else f"{r['psnr_vs_none']:.2f}"
            lines.append(
                f"| {spec} | {r['arn_steps_per_frame']:.2f} | {r['gmac_per_frame']:.2f} | {r['mac_speedup']:.2f}x "
                f"| {r['fps']:.2f} | {r['speedup']:.2f}x | {r['psnr']:.2f} | {r['delta_psnr']:+.2f} | "
                f"{r['ssim']:.4f} | {r['flicker']:.5f} | {r['delta_flicker']:+.5f} | {vs_none} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="preset or checkpoint (repeatable); default full and lite")
    parser.add_argument("--policy", action="append", help=f"repeatable; default {' '.join(POLICIES)}")
    parser.add_argument("--size", default="240x320", help="HxW of the rendered clips")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per clip; the fastest counts")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    policies = args.policy or POLICIES
    if policies[0] != "none":
        policies = ["none"] + [p for p in policies if p != "none"]
    height, width = (int(v) for v in args.size.lower().split("x"))
    clips = rendered_clips(args.clips, args.frames, (height, width), args.seed)
    result = {
        "command": " ".join(sys.argv),
        "clips": [name for name, _, _ in clips],
        "frames": args.frames,
        "size": args.size,
        "torch_threads": torch.get_num_threads(),
        "input": input_row(clips),
        "models": [measure(model, clips, policies, args.batch, args.device, args.repeats) for model in args.model or ["full", "lite"]],
    }
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
