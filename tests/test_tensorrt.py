"""TensorRT build and run logic, against a stand-in `tensorrt` module (no real TensorRT here).

The stand-in follows the documented Python API of TensorRT 10.x and 11.x: Builder,
create_network(flags), OnnxParser.parse_from_file, IBuilderConfig (set_flag,
set_memory_pool_limit, add_optimization_profile, create/set/get_timing_cache),
build_serialized_network, Runtime.deserialize_cuda_engine, and the execution context's
set_input_shape / get_tensor_shape / set_tensor_address / execute_async_v3. In 11.x
BuilderFlag.FP16 does not exist and every network is strongly typed; in 10.x a strongly typed
network refuses the FP16 flag. Engines "run" by reading the bound addresses and evaluating the
parsed ONNX graph in ONNX Runtime, so the runner's shape and address plumbing is really checked.
"""

from __future__ import annotations

import ctypes
import shutil
import enum
import json
import sys
import types

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import engines.tensorrt as trt_support
from engines.build import build_engines
from engines.cache import engine_path, file_sha256, generator_sha256, manifest_path, read_manifest, write_manifest
from engines.export import export_and_verify
from engines.tensorrt import ShapeProfile, TensorRTRunner
from stream_derain.backends.select import tensorrt_runner
from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.errors import DerainError
from conftest import TINY_LITE_CONFIG
from stream_derain.models import build_generator

TINY = TINY_LITE_CONFIG
GPU = {"gpu_name": "Stand-in GPU", "compute_capability": "8.9"}
NUMPY = {"FLOAT": np.float32, "HALF": np.float16}


def make_tensorrt(version: str) -> types.ModuleType:
    """A `tensorrt` module with the API surface of `version` (10.x or 11.x)."""
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = {"parsed": [], "flags": [], "deserialized": 0, "timing_cache_loaded": [], "workspace": []}

    class Logger:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self, severity=WARNING):
            self.severity = severity

    DataType = enum.Enum("DataType", "FLOAT HALF")
    TensorIOMode = enum.Enum("TensorIOMode", "NONE INPUT OUTPUT")
    MemoryPoolType = enum.Enum("MemoryPoolType", "WORKSPACE")
    NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 0})
    flags = ["TF32", "REFIT", "SPARSE_WEIGHTS"] + (["FP16", "INT8"] if major < 11 else [])
    BuilderFlag = enum.Enum("BuilderFlag", flags)

    class Network:
        def __init__(self, flags):
            self.strongly_typed = major >= 11 or bool(flags & (1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)))
            self.onnx = None

    class OnnxParser:
        def __init__(self, network, logger):
            self.network, self.errors = network, []

        def parse_from_file(self, path):
            trt.calls["parsed"].append(path)
            try:
                onnx.checker.check_model(path)
            except Exception as error:
                self.errors.append(str(error))
                return False
            self.network.onnx = path
            return True

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, index):
            return self.errors[index]

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, low, opt, high):
            assert all(a <= b <= c for a, b, c in zip(low, opt, high)), "min <= opt <= max"
            self.shapes[name] = [list(low), list(opt), list(high)]

    class TimingCache:
        def __init__(self, data):
            self.entries = int(data.split(b":")[1]) if data else 0

        def serialize(self):
            return b"timing:%d" % self.entries

    class BuilderConfig:
        def __init__(self):
            self.flags, self.profiles, self.cache, self.workspace = set(), [], None, None

        def set_flag(self, flag):
            self.flags.add(flag)

        def set_memory_pool_limit(self, pool, size):
            assert pool is MemoryPoolType.WORKSPACE
            self.workspace = size

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, data):
            trt.calls["timing_cache_loaded"].append(bytes(data))
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    class Builder:
        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags=0):
            return Network(flags)

        def create_builder_config(self):
            return BuilderConfig()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            if network.strongly_typed and major < 11 and any(f.name == "FP16" for f in config.flags):
                return None  # TensorRT 10 refuses precision flags on strongly typed networks
            model = onnx.load(network.onnx, load_external_data=False)
            inputs = [i.name for i in model.graph.input]
            if not config.profiles or set(config.profiles[0].shapes) != set(inputs):
                return None  # every dynamic input needs a profile
            trt.calls["flags"].append(sorted(f.name for f in config.flags))
            trt.calls["workspace"].append(config.workspace)
            if config.cache is not None:
                config.cache.entries += 1
            elem = model.graph.input[0].type.tensor_type.elem_type
            io = "HALF" if network.strongly_typed and elem == onnx.TensorProto.FLOAT16 else "FLOAT"
            header = {
                "magic": "stand-in-engine", "version": version, "onnx": network.onnx, "io": io,
                "profile": config.profiles[0].shapes, "outputs": [o.name for o in model.graph.output],
            }
            return json.dumps(header).encode()

    class Context:
        def __init__(self, engine):
            self.engine, self.shapes, self.addresses = engine, {}, {}

        def set_input_shape(self, name, shape):
            low, _, high = self.engine.info["profile"][name]
            if not all(a <= d <= b for a, d, b in zip(low, shape, high)):
                return False
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            # Resolve the output's symbolic dims from the inputs that share them.
            model = self.engine.model
            symbols = {}
            for tensor in model.graph.input:
                for dim, value in zip(tensor.type.tensor_type.shape.dim, self.shapes[tensor.name]):
                    if dim.dim_param:
                        symbols[dim.dim_param] = value
            output = next(o for o in model.graph.output if o.name == name)
            return tuple(symbols[d.dim_param] if d.dim_param else d.dim_value for d in output.type.tensor_type.shape.dim)

        def set_tensor_address(self, name, address):
            self.addresses[name] = address
            return True

        def execute_async_v3(self, stream_handle):
            dtype = NUMPY[self.engine.info["io"]]

            def view(name, shape):
                count = int(np.prod(shape))
                buffer = (ctypes.c_byte * (count * np.dtype(dtype).itemsize)).from_address(self.addresses[name])
                return np.frombuffer(buffer, dtype=dtype).reshape(shape)

            feeds = {name: view(name, shape).copy() for name, shape in self.shapes.items()}
            session = ort.InferenceSession(self.engine.info["onnx"], providers=["CPUExecutionProvider"])
            for name, value in zip(self.engine.info["outputs"], session.run(None, feeds)):
                view(name, value.shape)[...] = value.astype(dtype)
            return True

    class Engine:
        def __init__(self, info):
            self.info = info
            self.model = onnx.load(info["onnx"], load_external_data=False)
            self.names = [i.name for i in self.model.graph.input] + info["outputs"]

        @property
        def num_io_tensors(self):
            return len(self.names)

        def get_tensor_name(self, index):
            return self.names[index]

        def get_tensor_mode(self, name):
            return TensorIOMode.INPUT if name in self.info["profile"] else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return DataType[self.info["io"]]

        def get_tensor_profile_shape(self, name, profile_index):
            return self.info["profile"][name]

        def create_execution_context(self):
            return Context(self)

    class Runtime:
        def __init__(self, logger):
            self.logger = logger

        def deserialize_cuda_engine(self, data):
            trt.calls["deserialized"] += 1
            try:
                info = json.loads(bytes(data))
            except ValueError:
                return None
            if info.get("magic") != "stand-in-engine" or info["version"] != version:
                return None
            return Engine(info)

    for name, value in dict(locals()).items():
        if name[0].isupper():
            setattr(trt, name, value)
    return trt


@pytest.fixture(params=["10.14.1", "11.1.0"], ids=["trt10", "trt11"])
def trt(request, monkeypatch):
    module = make_tensorrt(request.param)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # only missing_requirement asks
    monkeypatch.setattr(trt_support, "gpu_identity", lambda: dict(GPU))
    return module


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    model = build_generator(TINY).eval()
    torch.nn.init.normal_(model.autoencoder.output.weight, std=0.1)  # a zero head would make restore trivial
    return model


PROFILE = ShapeProfile((1, 16, 16), (1, 32, 48), (2, 64, 64))


@pytest.fixture(scope="module")
def onnx_folder(generator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    export_and_verify(generator, folder)
    return folder


@pytest.fixture
def built(trt, generator, onnx_folder, tmp_path):
    shutil.copytree(onnx_folder, tmp_path, dirs_exist_ok=True)  # exporting once keeps this file fast
    report = build_engines(generator, tmp_path, PROFILE, workspace_mb=64, log=lambda _: None)
    return tmp_path, report


def test_fp16_builder_flag_exists_only_in_tensorrt_10(trt) -> None:
    if trt.__version__.startswith("10."):
        assert trt.BuilderFlag.FP16
    else:
        with pytest.raises(AttributeError):
            trt.BuilderFlag.FP16


def test_build_writes_engines_with_manifests(trt, built, generator) -> None:
    folder, report = built
    assert report.missing is None and len(report.engines) == 2
    weak = trt.__version__.startswith("10.")
    # 10.x: the fp32 graph with the FP16 flag; 11.x: the fp16 graph, strongly typed, no flag.
    assert [p.rsplit("/", 1)[1] for p in trt.calls["parsed"]] == (
        ["attend_step.fp32.onnx", "restore.fp32.onnx"] if weak else ["attend_step.fp16.onnx", "restore.fp16.onnx"]
    )
    assert trt.calls["flags"] == ([["FP16"]] * 2 if weak else [[]] * 2)
    assert trt.calls["workspace"] == [64 << 20] * 2
    for graph in ("attend_step", "restore"):
        manifest = read_manifest(engine_path(folder, graph))
        assert manifest.kind == "tensorrt" and manifest.precision == "fp16"
        assert manifest.typing == ("fp16-flag" if weak else "strongly-typed")
        assert manifest.tensorrt_version == trt.__version__
        assert (manifest.gpu_name, manifest.compute_capability) == (GPU["gpu_name"], GPU["compute_capability"])
        assert manifest.weights_sha256 == generator_sha256(generator)
        assert manifest.profile == {"min": [1, 16, 16], "opt": [1, 32, 48], "max": [2, 64, 64]}
        assert manifest.build_seconds >= 0 and manifest.created
    # h and c are profiled at the ARN's resolution (arn_scale 2).
    info = json.loads(engine_path(folder, "attend_step").read_bytes())
    assert info["profile"]["h"] == [[1, 4, 8, 8], [1, 4, 16, 24], [2, 4, 32, 32]]
    assert info["profile"]["x"] == [[1, 3, 16, 16], [1, 3, 32, 48], [2, 3, 64, 64]]


def test_timing_cache_is_reused_and_up_to_date_engines_are_kept(trt, built, generator) -> None:
    folder, _ = built
    assert trt.calls["timing_cache_loaded"] == [b"", b"timing:1"]
    again = build_engines(generator, folder, PROFILE, workspace_mb=64, log=lambda _: None)
    assert again.engines == [] and len(again.engines_reused) == 2
    rebuilt = build_engines(generator, folder, PROFILE, workspace_mb=64, force=True, log=lambda _: None)
    assert len(rebuilt.engines) == 2
    assert trt.calls["timing_cache_loaded"][-2:] == [b"timing:2", b"timing:3"]


def run_pipeline(runner, x):
    state = runner.init_state(x)
    for _ in range(TINY.steps):
        state = runner.attend_step(x, state)
    return state.mask.float(), runner.restore(x, state.mask).float()


def test_runner_matches_torch(trt, built, generator) -> None:
    folder, _ = built
    runner = TensorRTRunner(folder, TINY, generator_sha256(generator), device="cpu")
    assert runner.dtype == (torch.float32 if trt.__version__.startswith("10.") else torch.float16)
    x = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    mask, y = run_pipeline(runner, x.to(runner.dtype))
    ref_mask, ref_y = run_pipeline(TorchRunner(generator), x)
    tolerance = 1e-4 if runner.dtype == torch.float32 else 1e-2
    assert y.shape == x.shape and mask.shape == (2, 1, 32, 48)
    assert (y - ref_y).abs().max() <= tolerance * ref_y.abs().max()
    assert (mask - ref_mask).abs().max() <= tolerance * ref_mask.abs().max()


def test_shape_outside_the_profile_is_refused(trt, built, generator) -> None:
    folder, _ = built
    runner = TensorRTRunner(folder, TINY, generator_sha256(generator), device="cpu")
    x = torch.rand(1, 3, 72, 64).to(runner.dtype)
    with pytest.raises(DerainError, match="outside the engine's profile"):
        runner.restore(x, x[:, :1])
    with pytest.raises(DerainError, match="outside the engine's profile"):
        runner.attend_step(x, runner.init_state(x))


def test_engines_for_other_weights_gpu_or_tensorrt_are_refused_before_loading(trt, built, generator, monkeypatch) -> None:
    folder, _ = built
    sha = generator_sha256(generator)
    with pytest.raises(DerainError, match="weights_sha256"):
        TensorRTRunner(folder, TINY, "0" * 64, device="cuda")
    monkeypatch.setattr(trt_support, "gpu_identity", lambda: {"gpu_name": "Other GPU", "compute_capability": "7.5"})
    with pytest.raises(DerainError, match="gpu_name.*Stand-in GPU.*Other GPU"):
        TensorRTRunner(folder, TINY, sha, device="cuda")
    monkeypatch.setattr(trt, "__version__", "10.0.0" if trt.__version__.startswith("11") else "11.0.0")
    with pytest.raises(DerainError, match="tensorrt_version"):
        TensorRTRunner(folder, TINY, sha, device="cpu")
    assert trt.calls["deserialized"] == 0


def test_corrupted_engine_is_refused_then_rebuilt(trt, built, generator) -> None:
    folder, _ = built
    path = engine_path(folder, "restore")
    path.write_bytes(path.read_bytes()[:-7] + b"garbage")
    with pytest.raises(DerainError, match="corrupted.*derain build-engine"):
        TensorRTRunner(folder, TINY, generator_sha256(generator), device="cpu")
    assert trt.calls["deserialized"] == 0
    report = build_engines(generator, folder, PROFILE, workspace_mb=64, log=lambda _: None)
    assert report.engines == [path] and report.engines_reused == [engine_path(folder, "attend_step")]
    TensorRTRunner(folder, TINY, generator_sha256(generator), device="cpu")


def test_engine_that_tensorrt_cannot_load_is_a_clear_error(trt, built, generator) -> None:
    # Bytes that match their manifest but that the runtime rejects (e.g. a truncated build).
    folder, _ = built
    path = engine_path(folder, "attend_step")
    path.write_bytes(b"not an engine")
    manifest = read_manifest(path)
    manifest.file_sha256 = file_sha256(path)
    write_manifest(path, manifest)
    with pytest.raises(DerainError, match="could not load"):
        TensorRTRunner(folder, TINY, generator_sha256(generator), device="cpu")


def test_select_takes_engines_only_when_they_cover_the_shape(trt, built, generator) -> None:
    folder, _ = built
    runner = tensorrt_runner(generator, torch.device("cpu"), folder, (1, 32, 48))
    assert runner.name == "tensorrt-fp16"
    with pytest.raises(DerainError, match="does not cover"):
        tensorrt_runner(generator, torch.device("cpu"), folder, (1, 128, 128))
    manifest_path(engine_path(folder, "restore")).unlink()
    with pytest.raises(DerainError, match="no readable manifest"):
        tensorrt_runner(generator, torch.device("cpu"), folder, None)


def test_build_stops_on_a_parse_error(trt, generator, onnx_folder, tmp_path) -> None:
    shutil.copytree(onnx_folder, tmp_path, dirs_exist_ok=True)
    for name in ("attend_step.fp32.onnx", "attend_step.fp16.onnx"):
        (tmp_path / name).write_bytes(b"\x00broken")
    with pytest.raises(DerainError, match="could not parse"):
        trt_support.build_engine(trt, tmp_path, "attend_step", TINY, generator_sha256(generator), PROFILE, 64)
