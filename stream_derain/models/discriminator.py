"""The paper's discriminator: features gated by its own attention map, then a real/fake logit."""

from __future__ import annotations

import torch
from torch import nn


def conv5_relu(cin: int, cout: int, stride: int = 1, padding: int = 2) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 5, stride, padding), nn.ReLU())


class Discriminator(nn.Module):
    """Returns (attention map, logit). The logit is raw: train it with BCE-with-logits.

    The official head flattened a fixed 14x14 map into a fully connected layer, so any other
    input size crashed. Here the map is pooled to 4x4 first, so every size works.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv5_relu(3, 8),
            conv5_relu(8, 16),
            conv5_relu(16, 64),
            conv5_relu(64, 128),
            conv5_relu(128, 128),
            conv5_relu(128, 128),
        )
        self.conv_mask = nn.Conv2d(128, 1, 5, 1, 2)
        self.downsample = nn.Sequential(conv5_relu(128, 64, 4, 1), conv5_relu(64, 32, 4, 1))
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 16, 256), nn.ReLU(), nn.Linear(256, 1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(image)
        attention = self.conv_mask(features)
        x = self.downsample(features * attention)
        return attention, self.head(self.pool(x)).squeeze(1)
