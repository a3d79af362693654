"""A coarse per-pixel gain and offset: the change a gated residual cannot make.

Wet glass also veils the whole frame (lower contrast, lifted blacks), and a large soft drop is a
smooth local loss of contrast. Both are smooth affine changes of the image, and a gated output
leaves every pixel its map calls dry as it is. This branch sees the frame at 1/`scale` of its
size (each cell's mean colour, its contrast as a standard deviation per colour, and the map's
coverage), predicts a gain and an offset per colour there, and the autoencoder applies them,
upsampled, to the whole frame: y = x + gain * x + offset + gate * delta. Its head starts at
zero, so a new branch changes nothing (docs/TRAINING.md, "A coarse branch for the veil").

Both fields are scaled by the attention map's coverage around each cell (its mean over 3x3
cells): a frame whose map sees no drops is left as it is. Without that, the branch learnt to
darken clean frames, which it could not tell from veiled ones (runs 20, 22 and 23). A cell's
contrast is an input too, since a mean alone cannot tell a veil, which flattens the picture under
it, from a bright scene; but what taught the branch to leave unveiled drops alone was training
data with and without a veil (runs 26 and 28, docs/TRAINING.md).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class CellStats(NamedTuple):
    """Per-cell means, at one cell size, of the frame, of its square and of the map."""

    scale: int
    mean: torch.Tensor
    square: torch.Tensor
    mask: torch.Tensor


def cell_stats(x: torch.Tensor, mask: torch.Tensor, scale: int, finer: CellStats | None = None) -> CellStats:
    """The means over cells of `scale` px; from `finer`'s cells where they tile these, which
    gives the same means without another pass over the full frame."""
    # the frame is padded to a multiple of `scale` (ModelConfig checks), so pooling is exact
    if finer is not None and scale % finer.scale == 0:
        k = scale // finer.scale
        return CellStats(scale, F.avg_pool2d(finer.mean, k), F.avg_pool2d(finer.square, k), F.avg_pool2d(finer.mask, k))
    return CellStats(scale, F.avg_pool2d(x, scale), F.avg_pool2d(x * x, scale), F.avg_pool2d(mask, scale))


class CoarseAffine(nn.Module):
    """Gain and offset maps (B, 3, H, W) each, smooth at 1/`scale` of the frame."""

    def __init__(self, scale: int, channels: int):
        super().__init__()
        self.scale = scale
        # dilations 1, 2, 4, 1 and the head: a receptive field of 19 cells, 19 * scale pixels
        layers: list[nn.Module] = []
        for index, dilation in enumerate((1, 2, 4, 1)):
            layers += [nn.Conv2d(7 if index == 0 else channels, channels, 3, 1, dilation, dilation=dilation), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, 6, 3, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, cells: CellStats | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`mask` is the map as a probability (0 dry .. 1 drop); `cells`, its and `x`'s
        `cell_stats` at this branch's scale, when the caller has them."""
        if cells is None:
            cells = cell_stats(x, mask, self.scale)
        # the floor keeps sqrt's gradient finite on a flat cell
        contrast = (cells.square - cells.mean * cells.mean).clamp(min=1e-6).sqrt()
        coverage = F.avg_pool2d(cells.mask, 3, stride=1, padding=1, count_include_pad=False)
        features = torch.cat((cells.mean, contrast, cells.mask), 1)
        gain, offset = (self.head(self.body(features)) * coverage).chunk(2, 1)
        size = x.shape[-2:]
        return (
            F.interpolate(gain, size=size, mode="bilinear", align_corners=False),
            F.interpolate(offset, size=size, mode="bilinear", align_corners=False),
        )
