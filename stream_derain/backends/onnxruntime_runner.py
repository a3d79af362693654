"""Runner on ONNX Runtime: the CPU execution provider, or CUDA with onnxruntime-gpu.

Tensors are bound to the session by address (IOBinding), on the CPU as on the GPU, so torch
tensors go in and come out with no copy; on CUDA the session runs on torch's current stream.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import DerainError
from ..models import Generator, ModelConfig
from .base import AttentionState, initial_state

NUMPY_DTYPE = {torch.float32: np.float32, torch.float16: np.float16}


def cpu_threads() -> int:
    """Cores this process may use (the affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cuda_provider_available() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxRuntimeRunner:
    """Runs the exported `attend_step` and `restore` graphs in ONNX Runtime sessions."""

    def __init__(
        self,
        attend_path: Path,
        restore_path: Path,
        config: ModelConfig,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        self.config = config
        self.device = torch.device(device)
        self.dtype = dtype
        self.fixed_shapes = False  # any shape runs on the session as it is
        if self.device.type == "cuda" and not cuda_provider_available():
            raise DerainError("ONNX Runtime has no CUDA provider here: install onnxruntime-gpu, or use --device cpu")
        self.name = f"onnxruntime-{self.device.type}" + ("-fp16" if dtype == torch.float16 else "")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or cpu_threads()
        options.log_severity_level = 3
        if self.device.type == "cuda":
            index = self.device.index if self.device.index is not None else torch.cuda.current_device()
            provider_options = {
                "device_id": index,
                "user_compute_stream": str(torch.cuda.current_stream(index).cuda_stream),
            }
            providers = [("CUDAExecutionProvider", provider_options)]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.attend_session = ort.InferenceSession(str(attend_path), options, providers=providers)
            self.restore_session = ort.InferenceSession(str(restore_path), options, providers=providers)
        except Exception as error:  # ORT raises its own exception types for unreadable graphs
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DerainError(f"ONNX Runtime could not load {attend_path.parent}: {first_line}") from None

    def init_state(self, x: torch.Tensor) -> AttentionState:
        return initial_state(self.config, x)

    def attend_step(self, x: torch.Tensor, state: AttentionState) -> AttentionState:
        inputs = {"x": x, "mask": state.mask, "h": state.h, "c": state.c}
        outputs = {"mask_out": state.mask, "h_out": state.h, "c_out": state.c}
        return AttentionState(*self._run(self.attend_session, inputs, outputs))

    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._run(self.restore_session, {"x": x, "mask": mask}, {"y": x})[0]

    def _run(self, session, inputs: dict[str, torch.Tensor], like: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Bind inputs and freshly allocated outputs (each shaped like `like[name]`) and run."""
        binding = session.io_binding()
        kept = []  # contiguous copies must outlive the run
        for name, tensor in inputs.items():
            tensor = self._check(name, tensor)
            kept.append(tensor)
            binding.bind_input(name, self.device.type, self._index(), NUMPY_DTYPE[self.dtype], tuple(tensor.shape), tensor.data_ptr())
        outputs = []
        for name, template in like.items():
            out = torch.empty(template.shape, device=self.device, dtype=self.dtype)
            outputs.append(out)
            binding.bind_output(name, self.device.type, self._index(), NUMPY_DTYPE[self.dtype], tuple(out.shape), out.data_ptr())
        session.run_with_iobinding(binding)
        return outputs

    def _check(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device.type != self.device.type or tensor.dtype != self.dtype:
            raise DerainError(
                f"{self.name} takes {self.dtype} tensors on {self.device}; {name} is {tensor.dtype} on {tensor.device}"
            )
        return tensor.contiguous()

    def _index(self) -> int:
        if self.device.type == "cuda" and self.device.index is not None:
            return self.device.index
        return 0


def onnxruntime_runner_for(
    generator: Generator,
    device: torch.device | str = "cpu",
    folder: Path | None = None,
    threads: int | None = None,
) -> OnnxRuntimeRunner:
    """A runner for `generator`, exporting (and checking) its fp32 graphs into the cache if needed."""
    from engines.cache import default_folder, generator_sha256, onnx_path, stale_reasons
    from engines.export import export_and_verify

    sha = generator_sha256(generator)
    folder = Path(folder) if folder else default_folder(sha)
    paths = [onnx_path(folder, graph, "fp32") for graph in ("attend_step", "restore")]
    expected = {"weights_sha256": sha, "precision": "fp32"}
    if any(stale_reasons(path, expected) for path in paths):
        try:
            export_and_verify(generator, folder, precisions=("fp32",))
        except (RuntimeError, OSError) as error:  # an unexportable model, or an unwritable cache
            raise DerainError(f"could not export the ONNX graphs to {folder}: {error}") from None
    return OnnxRuntimeRunner(*paths, generator.config, device=device, threads=threads)
