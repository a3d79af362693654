"""The Runner interface: the only thing the pipeline, temporal policies and Derainer talk to."""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import torch

from ..models import ModelConfig


class AttentionState(NamedTuple):
    """The ARN's recurrent state for a batch: the mask at full size, h and c at ARN size."""

    mask: torch.Tensor
    h: torch.Tensor
    c: torch.Tensor


@runtime_checkable
class Runner(Protocol):
    """Runs the two generator graphs on one backend.

    Inputs and outputs are NCHW tensors on `device` with dtype `dtype`, holding images in the
    model's channel order and value range, already padded to `config.pad_multiple`.
    """

    name: str
    config: ModelConfig
    device: torch.device
    dtype: torch.dtype
    # True where each new input shape costs a compile or a graph capture: callers then keep
    # batches one size (the pipeline pads a video's last, short batch).
    fixed_shapes: bool

    def init_state(self, x: torch.Tensor) -> AttentionState: ...

    def attend_step(self, x: torch.Tensor, state: AttentionState) -> AttentionState: ...

    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...


def initial_state(config: ModelConfig, x: torch.Tensor) -> AttentionState:
    """The ARN's starting state for a batch (as Generator.init_state): mask 0.5, h and c zero.

    Backends that run exported graphs have no Generator to ask, only its config.
    """
    b, _, height, width = x.shape
    mask = torch.full((b, 1, height, width), 0.5, device=x.device, dtype=x.dtype)
    shape = (b, config.arn_channels, height // config.arn_scale, width // config.arn_scale)
    h = torch.zeros(shape, device=x.device, dtype=x.dtype)
    return AttentionState(mask, h, torch.zeros_like(h))
