"""TensorRT FP16 engines for the two graphs: build them from the ONNX files, and run them.

Works with TensorRT 10.x and 11.x. Where `BuilderFlag.FP16` exists (10.x; deprecated in 10.12)
the fp32 graph is built with that flag, weakly typed. TensorRT 11 removed the flag and types
every network strongly, so there the fp16 graph (fp16 weights and activations) is built and its
own types decide the precision. Graphs are parsed from their files so external weights load.

None of this has been run on a real TensorRT: it is tested against a stand-in module that
follows the documented Python API of both generations (tests/test_tensorrt.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from stream_derain.backends.base import AttentionState, initial_state
from stream_derain.errors import DerainError
from stream_derain.models import ModelConfig

from .cache import (
    GRAPHS,
    Manifest,
    engine_path,
    file_sha256,
    onnx_path,
    read_manifest,
    stale_reasons,
    write_manifest,
)
from .export import INPUTS, OUTPUTS

TIMING_CACHE = "timing.cache"


def import_tensorrt():
    """The tensorrt module, or None where it is not installed."""
    try:
        import tensorrt
    except ImportError:
        return None
    return tensorrt


def missing_requirement() -> str | None:
    """What stops an engine build or run here, or None when TensorRT and a CUDA GPU are present."""
    if import_tensorrt() is None:
        return "TensorRT is not installed (pip install tensorrt)"
    if not torch.cuda.is_available():
        return "no CUDA GPU is available"
    return None


def uses_fp16_flag(trt) -> bool:
    return hasattr(trt.BuilderFlag, "FP16")


@dataclass(frozen=True)
class ShapeProfile:
    """The (batch, height, width) range an engine accepts, padded sizes, and the one it tunes for."""

    min: tuple[int, int, int]
    opt: tuple[int, int, int]
    max: tuple[int, int, int]

    @classmethod
    def parse(cls, min_text: str, opt_text: str, max_text: str, multiple: int) -> "ShapeProfile":
        profile = cls(*(parse_shape(text, multiple) for text in (min_text, opt_text, max_text)))
        if not all(a <= b <= c for a, b, c in zip(profile.min, profile.opt, profile.max)):
            raise DerainError(f"shapes must satisfy min <= opt <= max in every dimension, got {profile.describe()}")
        return profile

    def describe(self) -> str:
        return " / ".join("x".join(map(str, shape)) for shape in (self.min, self.opt, self.max))

    def contains(self, batch: int, height: int, width: int) -> bool:
        return all(low <= value <= high for low, value, high in zip(self.min, (batch, height, width), self.max))

    def tensor_shapes(self, graph: str, config: ModelConfig) -> dict[str, tuple[tuple[int, ...], ...]]:
        """Each input's (min, opt, max) NCHW shape: h and c are at the ARN's resolution."""
        channels = {"x": 3, "mask": 1, "h": config.arn_channels, "c": config.arn_channels}
        shapes = {}
        for name in INPUTS[graph]:
            scale = config.arn_scale if name in ("h", "c") else 1
            shapes[name] = tuple((b, channels[name], h // scale, w // scale) for b, h, w in (self.min, self.opt, self.max))
        return shapes

    def to_dict(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def parse_shape(text: str, multiple: int) -> tuple[int, int, int]:
    """'BxHxW' or 'HxW' (batch 1) -> (B, H, W), with H and W rounded up to the model's multiple."""
    try:
        numbers = [int(part) for part in text.lower().split("x")]
    except ValueError:
        numbers = []
    if len(numbers) == 2:
        numbers = [1, *numbers]
    if len(numbers) != 3 or min(numbers) < 1:
        raise DerainError(f"bad shape {text!r}: give BxHxW or HxW, e.g. 1x480x720")
    batch, height, width = numbers
    return batch, -(-height // multiple) * multiple, -(-width // multiple) * multiple


def gpu_identity() -> dict[str, str]:
    index = torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(index)
    return {"gpu_name": torch.cuda.get_device_name(index), "compute_capability": f"{major}.{minor}"}


def expected_engine_fields(trt, weights_sha: str) -> dict[str, object]:
    """What an engine's manifest must say to run here."""
    return {"kind": "tensorrt", "weights_sha256": weights_sha, "tensorrt_version": trt.__version__, **gpu_identity()}


def trtexec_command(folder: Path, graph: str, config: ModelConfig, profile: ShapeProfile, workspace_mb: int) -> str:
    """The trtexec line that builds the same engine as `build_engine`, strongly typed from the
    fp16 graph (TensorRT 10.x needs --stronglyTyped for that; on 11.x it is the default)."""
    shapes = profile.tensor_shapes(graph, config)

    def flag(index: int) -> str:
        return ",".join(f"{name}:{'x'.join(map(str, dims[index]))}" for name, dims in shapes.items())

    return (
        f"trtexec --onnx={onnx_path(folder, graph, 'fp16')} --saveEngine={engine_path(folder, graph)} "
        f"--stronglyTyped --minShapes={flag(0)} --optShapes={flag(1)} --maxShapes={flag(2)} "
        f"--memPoolSize=workspace:{workspace_mb}M --timingCacheFile={Path(folder) / TIMING_CACHE}"
    )


def build_engine(
    trt,
    folder: Path,
    graph: str,
    config: ModelConfig,
    weights_sha: str,
    profile: ShapeProfile,
    workspace_mb: int,
) -> Path:
    """Build one FP16 engine from the graph's ONNX file in `folder`; write it and its manifest."""
    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    fp16_flag = uses_fp16_flag(trt)
    if fp16_flag:
        network = builder.create_network(0)
        source = onnx_path(folder, graph, "fp32")
    else:
        # 11.x: always strongly typed; the flag is kept there for compatibility and ignored.
        strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        network = builder.create_network(0 if strongly_typed is None else 1 << int(strongly_typed))
        source = onnx_path(folder, graph, "fp16")
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(source)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DerainError(f"TensorRT could not parse {source}: {errors or 'no details'}")

    builder_config = builder.create_builder_config()
    if fp16_flag:
        builder_config.set_flag(trt.BuilderFlag.FP16)
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    optimization = builder.create_optimization_profile()
    for name, (low, opt, high) in profile.tensor_shapes(graph, config).items():
        optimization.set_shape(name, low, opt, high)
    builder_config.add_optimization_profile(optimization)

    cache_file = Path(folder) / TIMING_CACHE
    timing_cache = builder_config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    builder_config.set_timing_cache(timing_cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, builder_config)
    if serialized is None:
        raise DerainError(f"TensorRT failed to build the {graph} engine (see its log above)")
    path = engine_path(folder, graph)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(bytes(serialized))
    temporary.replace(path)
    cache_file.write_bytes(bytes(builder_config.get_timing_cache().serialize()))
    write_manifest(
        path,
        Manifest(
            kind="tensorrt",
            graph=graph,
            precision="fp16",
            weights_sha256=weights_sha,
            file_sha256=file_sha256(path),
            preset=config.preset,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - start, 3),
            tensorrt_version=trt.__version__,
            typing="fp16-flag" if fp16_flag else "strongly-typed",
            profile=profile.to_dict(),
            workspace_mb=workspace_mb,
            extra={"onnx": source.name},
            **gpu_identity(),
        ),
    )
    return path


def engine_problems(folder: Path, weights_sha: str, profile: ShapeProfile | None = None) -> list[str]:
    """Why the engines in `folder` cannot run here ([] when they can): a missing TensorRT or GPU,
    a stale or damaged engine, or a profile that does not hold `profile`'s range."""
    missing = missing_requirement()
    if missing:
        return [missing]
    expected = expected_engine_fields(import_tensorrt(), weights_sha)
    problems = [reason for graph in GRAPHS for reason in stale_reasons(engine_path(folder, graph), expected)]
    if profile and not problems:
        for graph in GRAPHS:
            built = read_manifest(engine_path(folder, graph)).profile
            built_profile = ShapeProfile(*(tuple(built[key]) for key in ("min", "opt", "max")))
            if not (built_profile.contains(*profile.min) and built_profile.contains(*profile.max)):
                problems.append(f"{graph} engine's profile {built_profile.describe()} does not cover {profile.describe()}")
    return problems


TORCH_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16}


class TensorRTRunner:
    """Runs the two engines on torch's current CUDA stream, with torch tensors as the buffers.

    The engines' manifests are checked against this GPU, this TensorRT and the weights before
    anything is deserialized, and a file whose bytes changed is refused: TensorRT is never
    handed an engine that could crash it.
    """

    def __init__(
        self, folder: Path, config: ModelConfig, weights_sha: str, device: torch.device | str = "cuda"
    ) -> None:
        trt = import_tensorrt()
        if trt is None:
            raise DerainError("TensorRT is not installed (pip install tensorrt)")
        self.trt = trt
        self.config = config
        self.device = torch.device(device)
        self.folder = Path(folder)
        expected = {"kind": "tensorrt", "weights_sha256": weights_sha, "tensorrt_version": trt.__version__}
        if self.device.type == "cuda":
            expected.update(gpu_identity())
        problems = [reason for graph in GRAPHS for reason in stale_reasons(engine_path(folder, graph), expected)]
        if problems:
            raise DerainError(
                f"TensorRT engines in {folder} cannot be used: {'; '.join(problems)}. "
                f"Rebuild them: derain build-engine --model PATH_OR_PRESET --out {folder}"
            )
        logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(logger)
        self.engines, self.contexts = {}, {}
        for graph in GRAPHS:
            engine = self.runtime.deserialize_cuda_engine(engine_path(folder, graph).read_bytes())
            if engine is None:
                raise DerainError(f"TensorRT could not load {engine_path(folder, graph)}: rebuild it with derain build-engine")
            self.engines[graph] = engine
            self.contexts[graph] = engine.create_execution_context()
        self.dtype = TORCH_DTYPES[self.engines["restore"].get_tensor_dtype("x").name]
        self.name = "tensorrt-fp16"
        self.fixed_shapes = False  # the optimisation profile takes any shape in its range

    def init_state(self, x: torch.Tensor) -> AttentionState:
        return initial_state(self.config, x)

    def attend_step(self, x: torch.Tensor, state: AttentionState) -> AttentionState:
        inputs = {"x": x, "mask": state.mask, "h": state.h, "c": state.c}
        return AttentionState(*self._execute("attend_step", inputs))

    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._execute("restore", {"x": x, "mask": mask})[0]

    def _execute(self, graph: str, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        engine, context = self.engines[graph], self.contexts[graph]
        kept = []  # contiguous copies must live until enqueued, or an output could take their memory
        for name, tensor in inputs.items():
            tensor = tensor.contiguous()
            if tensor.dtype != self.dtype or tensor.device.type != self.device.type:
                raise DerainError(f"{self.name} takes {self.dtype} on {self.device}; {name} is {tensor.dtype} on {tensor.device}")
            low, _, high = engine.get_tensor_profile_shape(name, 0)
            if not all(a <= d <= b for a, d, b in zip(low, tensor.shape, high)):
                raise DerainError(
                    f"{graph}: {name} of shape {'x'.join(map(str, tensor.shape))} is outside the engine's profile "
                    f"({'x'.join(map(str, low))} to {'x'.join(map(str, high))}); rebuild with a wider "
                    f"--min-shape/--max-shape, or use another backend"
                )
            if not context.set_input_shape(name, tuple(tensor.shape)):
                raise DerainError(f"{graph}: TensorRT refused the shape {tuple(tensor.shape)} for {name}")
            context.set_tensor_address(name, tensor.data_ptr())
            kept.append(tensor)
        outputs = []
        for name in OUTPUTS[graph]:
            out = torch.empty(tuple(context.get_tensor_shape(name)), device=self.device, dtype=self.dtype)
            context.set_tensor_address(name, out.data_ptr())
            outputs.append(out)
        stream = torch.cuda.current_stream(self.device).cuda_stream if self.device.type == "cuda" else 0
        if not context.execute_async_v3(stream):
            raise DerainError(f"TensorRT failed to run the {graph} engine")
        return outputs
