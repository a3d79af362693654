"""Contextual autoencoder: restores the scene behind the drops from (image, attention mask)."""

from __future__ import annotations

import torch
from torch import nn

from .coarse import CoarseAffine, cell_stats
from .config import ModelConfig
from .detail import high_pass


def conv_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation), nn.ReLU())


class Upsample(nn.Module):
    """The official deconv: 4x4 stride-2 transpose conv, pad (1,0,1,0), 2x2 avg pool, ReLU.

    The pad and stride-1 pool smooth the checkerboard that a bare transpose conv leaves.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
        self.pad = nn.ReflectionPad2d((1, 0, 1, 0))
        self.pool = nn.AvgPool2d(2, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pool(self.pad(self.deconv(x))))


class ContextualAutoencoder(nn.Module):
    """Encoder with dilated context, decoder with skips, outputs at 1/4, 1/2 and full scale."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c1, c2, c3 = config.ae_channels
        self.residual, self.gate = config.residual, config.gate
        # Training only: whether the restoration losses may also train the map through the gate
        # (train.config.LossOptions.gate_gradient). Off, the gate is the attention loss's alone.
        self.gate_gradient = False
        self.conv1 = conv_relu(4, c1, config.ae_first_kernel)
        self.conv2 = conv_relu(c1, c2, stride=2)
        self.conv3 = conv_relu(c2, c2)
        self.conv4 = conv_relu(c2, c3, stride=2)
        self.context = nn.Sequential(
            *[conv_relu(c3, c3) for _ in range(config.ae_convs_before_dilation)],
            *[conv_relu(c3, c3, dilation=d) for d in config.ae_dilations],
            *[conv_relu(c3, c3) for _ in range(config.ae_convs_after_dilation)],
        )
        self.outframe1 = conv_relu(c3, 3)
        self.deconv1 = Upsample(c3, c2)
        self.conv9 = conv_relu(c2, c2)
        self.outframe2 = conv_relu(c2, 3)
        self.deconv2 = Upsample(c2, c1)
        self.conv10 = conv_relu(c1, c1 // 2)
        self.output = nn.Conv2d(c1 // 2, 3, 3, 1, 1)
        if self.residual:
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)
        # zero at the start, as the residual's head: a model that gains it computes what it did
        self.detail = nn.Conv2d(c1 // 2, 1, 3, 1, 1) if config.detail_gain else None
        if self.detail is not None:
            nn.init.zeros_(self.detail.weight)
            nn.init.zeros_(self.detail.bias)
        self.coarse = CoarseAffine(config.coarse_scale, config.coarse_channels) if config.coarse_scale else None
        self.fine = CoarseAffine(config.fine_scale, config.coarse_channels) if config.fine_scale else None

    def decode(self, x: torch.Tensor, mask: torch.Tensor, heads: bool) -> tuple:
        res1 = self.conv1(torch.cat((x, mask), 1))
        res2 = self.conv3(self.conv2(res1))
        deep = self.context(self.conv4(res2))
        up = self.conv9(self.deconv1(deep) + res2)
        features = self.conv10(self.deconv2(up) + res1)
        y = self.output(features)
        if self.gate:
            # Unless `gate_gradient` is on, the gate is the attention loss's to learn, so the
            # restoration losses cannot open it everywhere to buy a global shift (docs/TRAINING.md,
            # run 6: no measurable effect then; runs 44 and 45: on, it buys a darker frame).
            y = x + torch.sigmoid(mask if self.gate_gradient else mask.detach()) * y
        elif self.residual:
            y = y + x
        if self.detail is not None:
            # outside the gate: the gain a translucent drop needs is not scaled by the map's doubt
            y = y + self.detail(features) * high_pass(x)
        # finest cells first: a coarser branch pools the finer one's cells, not the frame again
        branches = sorted((branch for branch in (self.coarse, self.fine) if branch is not None), key=lambda branch: branch.scale)
        if branches:
            # like the gate, the branches read the map (as a probability) but do not train it
            seen = torch.sigmoid(mask.detach()) if self.gate else mask.detach().clamp(0, 1)
            cells = None
            fields = []
            for branch in branches:
                cells = cell_stats(x, seen, branch.scale, cells)
                fields.append(branch(x, seen, cells))
            # the branches' gains and offsets add up first, so the frame is touched once
            gains, offsets = zip(*fields)
            y = y + sum(gains[1:], gains[0]) * x + sum(offsets[1:], offsets[0])
        if not heads:
            return (y,)
        return self.outframe1(deep), self.outframe2(up), y

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the 1/4-scale, 1/2-scale and full-scale outputs (the losses need all three)."""
        return self.decode(x, mask, heads=True)

    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Full-scale output only: what inference needs."""
        return self.decode(x, mask, heads=False)[0]
