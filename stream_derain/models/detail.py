"""The frame's fine detail, and a gain on it that the attention map does not scale.

A drop out of focus dims the scene behind it and lays its own blurred light over it:
rain ≈ (1 - a) * scene + light. Undoing that takes the light away (an offset, smooth) and divides
what shows through by (1 - a), a gain on the fine detail. The gated residual scales every change
by the map's confidence, which is about 0.3 inside translucent drops, so it would have to compute
the change divided by that; here the decoder predicts the gain itself (`ModelConfig.detail_gain`),
and its head starts at zero, so a model that gains it computes what it did before.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DETAIL_SIGMA = 2.0  # px: the fine detail is what a blur of this size takes away


def high_pass(image: torch.Tensor, sigma: float = DETAIL_SIGMA) -> torch.Tensor:
    """The image minus its Gaussian blur, per channel (edges replicated)."""
    radius = math.ceil(3 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    # each channel as its own one-channel image: the kernel's shape then does not depend on the
    # input's, which an exported (ONNX) graph needs
    blurred = F.pad(image.flatten(0, 1).unsqueeze(1), (radius,) * 4, mode="replicate")
    blurred = F.conv2d(F.conv2d(blurred, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    return image - blurred.view_as(image)
