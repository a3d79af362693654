"""Choosing a Runner for a model: `--backend auto|torch|onnxruntime|tensorrt`, `--device`."""

from __future__ import annotations

import torch

from ..errors import DerainError
from ..models import Generator
from .base import Runner
from .torch_runner import TorchRunner

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    if device not in DEVICES and not device.startswith("cuda:"):
        raise DerainError(f"unknown device {device!r}; choose auto, cpu or cuda")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DerainError("--device cuda was asked for, but no CUDA GPU is available here")
    return torch.device(device)


def select_runner(generator: Generator, backend: str = "auto", device: str = "auto") -> Runner:
    """The first backend that works here, in the order the design gives."""
    if backend not in BACKENDS:
        raise DerainError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    target = resolve_device(device)
    if backend in ("auto", "torch"):
        dtype = torch.float16 if target.type == "cuda" else torch.float32
        return TorchRunner(generator, target, dtype)
    raise DerainError(f"backend {backend!r} is not available yet")
