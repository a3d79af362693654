"""A second attention map from the frame at a smaller size (`ModelConfig.map_zoom`).

At full size the map marks the rims of large, soft drops and not their flat middles; on the
same frame made smaller it fills them (docs/TRAINING.md, "A second map from the frame at half
size"). With `map_zoom` set, the ARN also runs on the frame downscaled by that factor, and every
map is the per-pixel maximum of the full-size one and the small one upsampled.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..frames import crop_to, pad_to_multiple


def zoomed_frame(x: torch.Tensor, zoom: float, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """`x` (B, C, H, W) downscaled by `zoom` (area), padded to `multiple`; and its size before padding."""
    height, width = x.shape[-2:]
    size = (max(1, round(height * zoom)), max(1, round(width * zoom)))
    return pad_to_multiple(F.interpolate(x, size=size, mode="area"), multiple)


def merge_maps(full: torch.Tensor, small: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The per-pixel maximum of the full-size map and the small frame's, cropped and upsampled."""
    wide = F.interpolate(crop_to(small, size), size=full.shape[-2:], mode="bilinear", align_corners=False)
    return torch.maximum(full, wide.to(full.dtype))
