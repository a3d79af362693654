"""Choosing a Runner for a model: `--backend auto|torch|onnxruntime|tensorrt`, `--device`.

`auto` takes the first that works, in this order: TensorRT where engines match this GPU,
TensorRT version, weights (and shape, when given); torch CUDA fp16; ONNX Runtime on the CPU;
torch on the CPU. The runner's `name` says which one it took, and `report` hears why the
ones before it were passed over.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable

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


def tensorrt_runner(
    generator: Generator, device: torch.device, engine_dir: Path | None, shape: tuple[int, int, int] | None
) -> Runner:
    """TensorRT engines for these weights, or a DerainError that says what is wrong with them."""
    from engines.cache import default_folder, generator_sha256
    from engines.tensorrt import ShapeProfile, TensorRTRunner, engine_problems

    sha = generator_sha256(generator)
    folder = Path(engine_dir) if engine_dir else default_folder(sha)
    problems = engine_problems(folder, sha, ShapeProfile(shape, shape, shape) if shape else None)
    if problems:
        raise DerainError(f"no usable TensorRT engine in {folder}: {problems[0]} (derain build-engine makes them)")
    return TensorRTRunner(folder, generator.config, sha, device)


def onnxruntime_runner(generator: Generator, device: torch.device, engine_dir: Path | None) -> Runner:
    if importlib.util.find_spec("onnxruntime") is None:
        raise DerainError("onnxruntime is not installed")
    from .onnxruntime_runner import onnxruntime_runner_for

    return onnxruntime_runner_for(generator, device, engine_dir)


def select_runner(
    generator: Generator,
    backend: str = "auto",
    device: str = "auto",
    *,
    precision: str = "auto",
    channels_last: bool | None = None,
    cuda_graphs: bool = False,
    compile: bool = False,
    engine_dir: Path | None = None,
    shape: tuple[int, int, int] | None = None,
    report: Callable[[str], None] | None = None,
) -> Runner:
    """A runner for `generator`. `shape` is a padded (batch, height, width) a TensorRT engine must
    accept; `engine_dir` holds the ONNX files and engines (default: the cache, see docs/ENGINES.md).
    The torch options (precision auto|fp32|fp16, channels_last, cuda_graphs, compile) apply to torch only;
    channels_last None means on for CUDA (1.20x for `full` in fp16 there, docs/BENCHMARKS.md), off on
    the CPU. `compile` takes the torch backend, also under `auto`.
    """
    if backend not in BACKENDS:
        raise DerainError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if precision not in ("auto", "fp32", "fp16"):
        raise DerainError(f"unknown precision {precision!r}; choose auto, fp32 or fp16")
    if compile and backend in ("onnxruntime", "tensorrt"):
        raise DerainError(f"--compile compiles the torch backend; it does nothing for {backend}")
    if compile:
        backend = "torch"  # asking to compile is asking for torch, not whatever auto would take
    target = resolve_device(device)

    def torch_runner(on: torch.device) -> Runner:
        half = precision == "fp16" or (precision == "auto" and on.type == "cuda")
        dtype = torch.float16 if half else torch.float32
        layout = on.type == "cuda" if channels_last is None else channels_last
        return TorchRunner(generator, on, dtype, layout, cuda_graphs, compile)

    if backend == "torch":
        return torch_runner(target)
    if backend == "onnxruntime":
        return onnxruntime_runner(generator, target, engine_dir)
    if backend == "tensorrt":
        if target.type != "cuda":
            raise DerainError("the TensorRT backend needs a CUDA GPU")
        return tensorrt_runner(generator, target, engine_dir, shape)

    candidates: list[tuple[str, Callable[[], Runner]]] = []
    if target.type == "cuda":
        candidates.append(("tensorrt", lambda: tensorrt_runner(generator, target, engine_dir, shape)))
        candidates.append(("torch-cuda", lambda: torch_runner(target)))
    if target.type == "cpu" or device == "auto":
        cpu = torch.device("cpu")
        candidates.append(("onnxruntime-cpu", lambda: onnxruntime_runner(generator, cpu, engine_dir)))
        candidates.append(("torch-cpu", lambda: torch_runner(cpu)))
    for label, make in candidates[:-1]:
        try:
            return make()
        except DerainError as error:
            if report:
                report(f"backend {label} skipped: {error}")
    return candidates[-1][1]()
