"""The generator: attentive-recurrent network, then contextual autoencoder."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .arn import AttentiveRNN
from .autoencoder import ContextualAutoencoder
from .config import PRESETS, ModelConfig
from .zoom import merge_maps, zoomed_frame


class GeneratorOutput(NamedTuple):
    masks: list[torch.Tensor]  # one attention map per ARN step, each (B, 1, H, W)
    quarter: torch.Tensor  # 1/4-scale restoration
    half: torch.Tensor  # 1/2-scale restoration
    output: torch.Tensor  # full-scale restoration


class Generator(nn.Module):
    """Two stages split for inference: `attend_step` (one ARN step) and `restore`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.arn = AttentiveRNN(config)
        self.autoencoder = ContextualAutoencoder(config)

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ARN's starting state: mask 0.5 everywhere, h and c zero."""
        b, _, height, width = x.shape
        mask = torch.full((b, 1, height, width), 0.5, device=x.device, dtype=x.dtype)
        h = torch.zeros(self.arn.state_shape(x), device=x.device, dtype=x.dtype)
        return mask, h, h.clone()

    def attend_step(
        self, x: torch.Tensor, mask: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.arn.step(x, mask, h, c)

    def attend(self, x: torch.Tensor, steps: int | None = None) -> list[torch.Tensor]:
        """Run the ARN from its starting state; return the mask after every step (with
        `config.map_zoom`, each merged with the small frame's mask after the same step)."""
        masks = self._attend_at(x, steps)
        if not self.config.map_zoom:
            return masks
        small, size = zoomed_frame(x, self.config.map_zoom, self.config.pad_multiple)
        return [merge_maps(full, wide, size) for full, wide in zip(masks, self._attend_at(small, steps))]

    def _attend_at(self, x: torch.Tensor, steps: int | None) -> list[torch.Tensor]:
        mask, h, c = self.init_state(x)
        masks = []
        for _ in range(steps or self.config.steps):
            mask, h, c = self.attend_step(x, mask, h, c)
            masks.append(mask)
        return masks

    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.restore(x, mask)

    def forward(self, x: torch.Tensor) -> GeneratorOutput:
        masks = self.attend(x)
        quarter, half, output = self.autoencoder(x, masks[-1])
        return GeneratorOutput(masks, quarter, half, output)


def build_generator(preset: str | ModelConfig) -> Generator:
    """A generator for a preset name (`full`, `lite`) or a full config."""
    if isinstance(preset, ModelConfig):
        return Generator(preset)
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose from {', '.join(PRESETS)}")
    return Generator(PRESETS[preset])
