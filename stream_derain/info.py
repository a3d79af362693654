"""`derain info`: what is installed, what hardware is here, and what a model costs."""

from __future__ import annotations

import importlib
import importlib.metadata
import platform

import torch

from .cost import count_macs, count_parameters
from .checkpoint import load_model
from .models import Generator


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tensorrt_version() -> str:
    try:
        return importlib.import_module("tensorrt").__version__
    except Exception:  # a broken TensorRT install must not break `info`
        return "not installed"


def onnxruntime_providers() -> list[str]:
    try:
        return list(importlib.import_module("onnxruntime").get_available_providers())
    except ImportError:
        return []


def working_backends() -> list[str]:
    backends = ["torch-cpu"]
    if torch.cuda.is_available():
        backends.append("torch-cuda")
    providers = onnxruntime_providers()
    if "CPUExecutionProvider" in providers:
        backends.append("onnxruntime-cpu")
    if "CUDAExecutionProvider" in providers and torch.cuda.is_available():
        backends.append("onnxruntime-cuda")
    if tensorrt_version() != "not installed" and torch.cuda.is_available():
        backends.append("tensorrt")
    return backends


def environment_info() -> dict:
    cuda = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        cuda = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                "memory_gib": round(props.total_memory / 2**30, 1)}
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": package_version("av"),
        "onnxruntime": package_version("onnxruntime") if onnxruntime_providers() else "not installed",
        "tensorrt": tensorrt_version(),
        "opencv": package_version("opencv-python"),
        "cuda_device": cuda,
        "backends": working_backends(),
    }


def model_info(model: str, height: int = 480, width: int = 720) -> dict:
    """Parameters and MACs of a preset or checkpoint, and whether trained weights back it."""
    loaded = load_model(model)
    generator = Generator(loaded.generator.config).to("meta")
    macs = count_macs(generator, height, width)
    return {
        "model": loaded.source,
        "preset": generator.config.preset,
        "trained": loaded.trained,
        "parameters": count_parameters(generator),
        "resolution": f"{height}x{width}",
        "gmacs": macs["total"] / 1e9,
        "arn_share": macs["arn"] / macs["total"],
        "macs_per_pixel": macs["total"] / (height * width),
    }
