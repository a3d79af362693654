"""Runner on PyTorch: CPU or CUDA; fp32, or fp16 on CUDA; channels_last; CUDA graphs; torch.compile."""

from __future__ import annotations

import copy
from typing import Callable

import torch

from ..errors import DerainError
from ..models import Generator
from ..models.arn import fuse_lstm_gates
from .base import AttentionState


class CapturedGraphs:
    """CUDA graphs of one function, one per input shape, replayed on static buffers.

    A frame stream has one shape, so after the first call per shape the Python and launch
    overhead of ~40 small kernels becomes one graph replay.
    """

    def __init__(self, function: Callable[..., tuple[torch.Tensor, ...]]):
        self.function = function
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, list[torch.Tensor], tuple[torch.Tensor, ...]]] = {}

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        key = tuple((tuple(t.shape), t.dtype) for t in inputs)
        if key not in self.graphs:
            self.graphs[key] = self._capture(inputs)
        graph, static_inputs, static_outputs = self.graphs[key]
        for buffer, tensor in zip(static_inputs, inputs):
            buffer.copy_(tensor)
        graph.replay()
        # The next replay overwrites the outputs, and callers keep masks across calls.
        return tuple(out.clone() for out in static_outputs)

    def _capture(self, inputs: tuple[torch.Tensor, ...]):
        static_inputs = [t.clone() for t in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm up cuDNN's algorithm choice outside the capture
                self.function(*static_inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_outputs = self.function(*static_inputs)
        return graph, static_inputs, static_outputs


class TorchRunner:
    """Runs a Generator's `attend_step` and `restore` with torch on one device and dtype.

    The runner works on its own copy of the generator, with the ConvLSTM's gate convs fused
    (exact), so converting it (device, fp16, channels_last) never changes the caller's module.
    """

    def __init__(
        self,
        generator: Generator,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
        cuda_graphs: bool = False,
        compile: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.config = generator.config
        if dtype == torch.float16 and self.device.type != "cuda":
            raise DerainError("fp16 with torch needs CUDA; on the CPU use fp32")
        if cuda_graphs and compile:
            raise DerainError("choose CUDA graphs or torch.compile, not both")
        if cuda_graphs and self.device.type != "cuda":
            raise DerainError("CUDA graphs need a CUDA device")
        if self.device.type == "cuda":
            # a video's frames all have one shape, so cuDNN's per-shape autotuning pays for itself
            # at once (process-wide: it only changes which kernels run, not what they compute)
            torch.backends.cudnn.benchmark = True
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        inference_copy = fuse_lstm_gates(copy.deepcopy(generator))
        self.generator = inference_copy.to(self.device, dtype, memory_format=self.memory_format).eval()
        attend, restore = self.generator.attend_step, self.generator.restore
        if compile:
            attend, restore = torch.compile(attend, dynamic=False), torch.compile(restore, dynamic=False)
        if cuda_graphs:
            restore_once = restore  # the lambda must not see `restore` rebound to its own graph
            attend, restore = CapturedGraphs(attend), CapturedGraphs(lambda x, mask: (restore_once(x, mask),))
        self._attend, self._restore = attend, restore
        self.cuda_graphs, self.compiled = cuda_graphs, compile
        self.fixed_shapes = cuda_graphs or compile
        parts = ["torch", self.device.type, "fp16" if dtype == torch.float16 else "fp32"]
        parts += [name for name, on in (("channels_last", channels_last), ("cuda_graphs", cuda_graphs), ("compiled", compile)) if on]
        self.name = "-".join(parts)

    def _layout(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.contiguous(memory_format=self.memory_format)

    @torch.inference_mode()
    def init_state(self, x: torch.Tensor) -> AttentionState:
        return AttentionState(*self.generator.init_state(x))

    @torch.inference_mode()
    def attend_step(self, x: torch.Tensor, state: AttentionState) -> AttentionState:
        return AttentionState(*self._attend(*map(self._layout, (x, *state))))

    @torch.inference_mode()
    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self._restore(self._layout(x), self._layout(mask))
        return y[0] if self.cuda_graphs else y
