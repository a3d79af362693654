"""Attentive-recurrent network: finds the raindrops, refining a mask over several steps."""

from __future__ import annotations

from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


def conv3x3(cin: int, cout: int, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, dilation, dilation)


class ResidualBlock(nn.Module):
    """Two 3x3 convs with ReLU; the caller's identity is added before a final ReLU."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels, dilation), nn.ReLU(), conv3x3(channels, channels, dilation), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class ConvLSTM(nn.Module):
    """Convolutional LSTM cell with separate i, f, g, o gate convs (as the official code)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_i = conv3x3(2 * channels, channels)
        self.conv_f = conv3x3(2 * channels, channels)
        self.conv_g = conv3x3(2 * channels, channels)
        self.conv_o = conv3x3(2 * channels, channels)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        xh = torch.cat((x, h), 1)
        i = torch.sigmoid(self.conv_i(xh))
        f = torch.sigmoid(self.conv_f(xh))
        g = torch.tanh(self.conv_g(xh))
        o = torch.sigmoid(self.conv_o(xh))
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c


class FusedConvLSTM(nn.Module):
    """A ConvLSTM for inference with its four gate convs (same input, same shape) stacked into
    one: the same numbers, but one wide conv reads its input once and keeps a GPU's matrix
    units busier than four narrow ones (1.18x on `lite` with torch on the CPU)."""

    def __init__(self, cell: ConvLSTM) -> None:
        super().__init__()
        gates = (cell.conv_i, cell.conv_f, cell.conv_o, cell.conv_g)  # sigmoid gates first
        self.channels = cell.conv_i.out_channels
        self.gates = nn.Conv2d(gates[0].in_channels, 4 * self.channels, 3, 1, 1).to(cell.conv_i.weight)
        self.gates.weight.data = torch.cat([conv.weight.detach() for conv in gates])
        self.gates.bias.data = torch.cat([conv.bias.detach() for conv in gates])

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gates = self.gates(torch.cat((x, h), 1))
        i, f, o = torch.split(torch.sigmoid(gates[:, : 3 * self.channels]), self.channels, 1)
        g = torch.tanh(gates[:, 3 * self.channels :])
        c = f * c + i * g
        return o * torch.tanh(c), c


Module = TypeVar("Module", bound=nn.Module)


def fuse_lstm_gates(model: Module) -> Module:
    """Swap every ConvLSTM in `model` (in place) for its FusedConvLSTM; returns `model`."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is ConvLSTM:
                setattr(parent, name, FusedConvLSTM(child))
    return model


class AttentiveRNN(nn.Module):
    """One step maps (image, mask, h, c) to a refined (mask, h, c); weights are shared by steps."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        ch = config.arn_channels
        self.scale = config.arn_scale
        self.channels = ch
        self.det_conv0 = nn.Sequential(conv3x3(4, ch), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(ch, config.arn_dilation) for _ in range(config.arn_blocks)])
        self.lstm = ConvLSTM(ch)
        self.det_conv_mask = conv3x3(ch, 1)

    def state_shape(self, x: torch.Tensor) -> tuple[int, int, int, int]:
        b, _, height, width = x.shape
        return b, self.channels, height // self.scale, width // self.scale

    def step(
        self, x: torch.Tensor, mask: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = torch.cat((x, mask), 1)
        if self.scale > 1:
            features = F.avg_pool2d(features, self.scale)
        features = self.blocks(self.det_conv0(features))
        h, c = self.lstm(features, h, c)
        mask = self.det_conv_mask(h)
        if self.scale > 1:
            mask = F.interpolate(mask, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return mask, h, c
