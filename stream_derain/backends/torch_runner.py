"""Runner on PyTorch eager, CPU or CUDA."""

from __future__ import annotations

import torch

from ..models import Generator
from .base import AttentionState


class TorchRunner:
    """Runs a Generator's `attend_step` and `restore` with torch on one device and dtype."""

    name = "torch"

    def __init__(
        self,
        generator: Generator,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.config = generator.config
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator = generator.to(self.device, dtype, memory_format=memory_format).eval()

    @torch.inference_mode()
    def init_state(self, x: torch.Tensor) -> AttentionState:
        return AttentionState(*self.generator.init_state(x))

    @torch.inference_mode()
    def attend_step(self, x: torch.Tensor, state: AttentionState) -> AttentionState:
        return AttentionState(*self.generator.attend_step(x, *state))

    @torch.inference_mode()
    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.generator.restore(x, mask)
