"""Multiply-accumulate counts of a generator, measured by running it once on a meta tensor."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .models import Generator, ModelConfig


def _layer_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inputs[0].numel() * module.out_channels * kh * kw // module.groups
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * module.in_channels * kh * kw // module.groups
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_macs(generator: Generator, height: int, width: int) -> dict[str, int]:
    """MACs of one full forward at (height, width), split into the ARN (all steps) and restore."""
    totals = {"arn": 0, "restore": 0}
    hooks = []
    for part, root in (("arn", generator.arn), ("restore", generator.autoencoder)):
        for layer in root.modules():
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                def hook(module, inputs, output, part=part):
                    totals[part] += _layer_macs(module, inputs, output)
                hooks.append(layer.register_forward_hook(hook))
    try:
        x = torch.zeros(1, 3, height, width, device="meta")
        with torch.no_grad():
            masks = generator.attend(x)
            generator.restore(x, masks[-1])
    finally:
        for handle in hooks:
            handle.remove()
    totals["total"] = totals["arn"] + totals["restore"]
    return totals


def macs_per_frame(config: ModelConfig, height: int, width: int, arn_steps_per_frame: float) -> float:
    """MACs of a frame whose ARN ran this many full-size steps, as CountingRunner counts them (reuse
    policies skip steps; the small frame of `map_zoom` adds its share of pixels)."""
    macs = count_macs(Generator(replace(config, map_zoom=0.0)).to("meta"), height, width)
    return macs["restore"] + macs["arn"] * arn_steps_per_frame / config.steps


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
