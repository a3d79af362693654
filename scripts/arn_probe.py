"""Can an attentive-recurrent net find rendered drops? Train the ARN alone and compare its mask
loss with a map that knows nothing (the best constant: each batch's own drop coverage).

    python scripts/arn_probe.py --steps 300 --focus-mix 0.7 --lr 1e-4
    python scripts/arn_probe.py --steps 300 --focus-mix 0.0 --preset full
    python scripts/arn_probe.py --steps 300 --lr 1e-3 --arn-blocks 5 --arn-channels 32
    python scripts/arn_probe.py --steps 600 --lr 1e-3 --arn-scale 4 --blur 1.5 16
    python scripts/arn_probe.py --steps 1200 --lr 1e-3 --arn-dilation 2 --blur 1.5 16 --mask-threshold 20

Prints, every 50 steps, the map's BCE and the constant map's BCE, each the mean over those 50 steps; a ratio
near 1 means the map has learnt nothing about where the drops are. Recall is the share of
drop pixels the map marks (above 0.5).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.models import PRESETS, build_generator  # noqa: E402
from stream_derain.synth import RainConfig  # noqa: E402
from stream_derain.synth.sources import available_sources  # noqa: E402
from train.data import RenderedRain  # noqa: E402
from train.losses import constant_map_bce  # noqa: E402
from train.trainer import split_sources  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--focus-mix", type=float, default=RainConfig.focus_mix)
    parser.add_argument("--mask-threshold", type=int, default=RainConfig.mask_threshold)
    parser.add_argument("--arn-blocks", type=int, help="override the preset's residual blocks")
    parser.add_argument("--arn-channels", type=int, help="override the preset's ARN channels")
    parser.add_argument("--arn-scale", type=int, help="override the preset's ARN downscale (lite: 2)")
    parser.add_argument("--arn-dilation", type=int, help="override the preset's residual-block dilation (1)")
    parser.add_argument("--blur", type=float, nargs=2, default=RainConfig.blur_sigma, metavar=("LO", "HI"),
                        help="defocus range of the out-of-focus drops, px")
    args = parser.parse_args()
    torch.manual_seed(0)
    files = sorted((path for _, path in available_sources()), key=lambda p: p.stem)
    train_files, _ = split_sources(files, ["coffee", "flower", "bikes"])
    config = RainConfig(focus_mix=args.focus_mix, mask_threshold=args.mask_threshold, veil=(0.0, 0.0),
                        blur_sigma=tuple(args.blur))
    samples = iter(RenderedRain(train_files, args.crop, config=config, seed=0, min_mask_fraction=0.05))
    preset = PRESETS[args.preset]
    overrides = {"arn_blocks": args.arn_blocks, "arn_channels": args.arn_channels, "arn_scale": args.arn_scale,
                 "arn_dilation": args.arn_dilation}
    arn_generator = build_generator(dataclasses.replace(preset, **{k: v for k, v in overrides.items() if v}))
    optimizer = torch.optim.Adam(arn_generator.arn.parameters(), lr=args.lr)
    learnt, constant, found, started = [], [], [], time.monotonic()
    for step in range(1, args.steps + 1):
        batch = [next(samples) for _ in range(args.batch)]
        rain = torch.stack([item["rain"] for item in batch])
        mask = torch.stack([item["mask"] for item in batch])
        final = arn_generator.attend(rain)[-1]
        loss = F.binary_cross_entropy_with_logits(final, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        learnt.append(loss.item())
        constant.append(constant_map_bce(mask))
        # Recall at 0.5: a map that marks only the rims of large drops scores low here.
        found.append(((final > 0) & (mask > 0.5)).sum().item() / max(1.0, (mask > 0.5).sum().item()))
        if step % 50 == 0:
            ours, known = sum(learnt[-50:]) / 50, sum(constant[-50:]) / 50
            recall = sum(found[-50:]) / 50
            print(f"step {step}: BCE {ours:.3f}, constant map {known:.3f}, ratio {ours / known:.2f}, "
                  f"recall {recall:.2f} ({time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
