"""Runners and their selection: torch and ONNX Runtime agree, auto says what it took."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import engines.export as export
from engines.cache import default_folder, generator_sha256
from stream_derain.backends.base import Runner
from stream_derain.backends.onnxruntime_runner import OnnxRuntimeRunner, onnxruntime_runner_for
from stream_derain.backends.select import select_runner
from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.checkpoint import LoadedModel, save_checkpoint
from stream_derain.derainer import Derainer
from stream_derain.errors import DerainError
from conftest import TINY_LITE_CONFIG
from stream_derain.models import build_generator
from stream_derain.models.arn import ConvLSTM

TINY = TINY_LITE_CONFIG
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def tiny_generator(seed: int = 0):
    torch.manual_seed(seed)
    model = build_generator(TINY).eval()
    torch.nn.init.normal_(model.autoencoder.output.weight, std=0.2)  # a zero head would make restore trivial
    return model


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("STREAM_DERAIN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


def derain(runner: Runner, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.to(runner.device, runner.dtype)
    state = runner.init_state(x)
    for _ in range(runner.config.steps):
        state = runner.attend_step(x, state)
    return state.mask.float().cpu(), runner.restore(x, state.mask).float().cpu()


def image(seed: int = 0, batch: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, 32, 48, generator=torch.Generator().manual_seed(seed))


def test_onnxruntime_and_torch_agree_within_2_of_255(generator) -> None:
    ort_runner = select_runner(generator, "onnxruntime", "cpu")
    torch_runner = select_runner(generator, "torch", "cpu")
    assert (ort_runner.name, torch_runner.name) == ("onnxruntime-cpu", "torch-cpu-fp32")
    assert isinstance(ort_runner, Runner) and isinstance(torch_runner, Runner)
    x = image(batch=2)
    ort_mask, ort_y = derain(ort_runner, x)
    torch_mask, torch_y = derain(torch_runner, x)
    assert ort_y.shape == x.shape and ort_mask.shape == (2, 1, 32, 48)
    assert (ort_y - torch_y).abs().max() * 255 < 2
    assert (ort_mask - torch_mask).abs().max() < 1e-4
    assert (torch_y - x).abs().max() > 0.05  # the restore really did something


def test_derain_image_cli_agrees_across_backends(run_cli, tmp_path, generator) -> None:
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, generator)
    rgb = (np.random.default_rng(0).random((30, 45, 3)) * 255).astype(np.uint8)  # not a multiple of 8
    cv2.imwrite(str(tmp_path / "in.png"), rgb)
    outputs = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / f"{backend}.png"
        result = run_cli("image", tmp_path / "in.png", out, "--model", checkpoint, "--backend", backend, "--device", "cpu")
        assert result.code == 0, result.err
        assert f"({backend}" in result.out  # the summary names the backend that ran
        outputs[backend] = cv2.imread(str(out)).astype(int)
    assert outputs["torch"].shape == rgb.shape
    assert np.abs(outputs["torch"] - outputs["onnxruntime"]).max() <= 2
    assert np.abs(outputs["torch"] - rgb.astype(int)).max() > 10


def test_auto_on_the_cpu_takes_onnxruntime_and_says_so(generator) -> None:
    runner = select_runner(generator, "auto", "cpu")
    assert runner.name == "onnxruntime-cpu"


def test_auto_falls_back_to_torch_and_reports_why(generator, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise DerainError("onnxruntime is not installed")

    monkeypatch.setattr("stream_derain.backends.select.onnxruntime_runner", broken)
    heard: list[str] = []
    runner = select_runner(generator, "auto", "cpu", report=heard.append)
    assert runner.name == "torch-cpu-fp32"
    assert heard == ["backend onnxruntime-cpu skipped: onnxruntime is not installed"]


def test_bad_choices_are_clear_errors(generator) -> None:
    with pytest.raises(DerainError, match="unknown backend 'tflite'"):
        select_runner(generator, "tflite")
    with pytest.raises(DerainError, match="unknown device"):
        select_runner(generator, "torch", "tpu")
    with pytest.raises(DerainError, match="unknown precision"):
        select_runner(generator, "torch", "cpu", precision="int8")
    with pytest.raises(DerainError, match="TensorRT backend needs a CUDA GPU"):
        select_runner(generator, "tensorrt", "cpu")
    with pytest.raises(DerainError, match="fp16 with torch needs CUDA"):
        select_runner(generator, "torch", "cpu", precision="fp16")
    with pytest.raises(DerainError, match="CUDA graphs need a CUDA device"):
        select_runner(generator, "torch", "cpu", cuda_graphs=True)


def test_compile_reaches_the_torch_runner_and_channels_last_stays_off_on_the_cpu(generator) -> None:
    assert select_runner(generator, "torch", "cpu").name == "torch-cpu-fp32"
    assert select_runner(generator, "torch", "cpu", compile=True).name == "torch-cpu-fp32-compiled"
    assert select_runner(generator, "auto", "cpu", compile=True).name == "torch-cpu-fp32-compiled"
    with pytest.raises(DerainError, match="compiles the torch backend"):
        select_runner(generator, "onnxruntime", "cpu", compile=True)
    assert not any(type(m) is ConvLSTM for m in TorchRunner(generator).generator.modules())  # gates fused
    model = LoadedModel(generator, {}, "tiny test model", trained=False)
    assert Derainer(model, device="cpu", backend="torch", compile=True).runner.name == "torch-cpu-fp32-compiled"
    with pytest.raises(DerainError, match="CUDA graphs or torch.compile"):
        TorchRunner(generator, compile=True, cuda_graphs=True)


def test_torch_runner_options_keep_the_result_and_the_callers_module(generator) -> None:
    before = {name: tensor.clone() for name, tensor in generator.state_dict().items()}
    plain = TorchRunner(generator)
    nhwc = TorchRunner(generator, channels_last=True)
    assert nhwc.name == "torch-cpu-fp32-channels_last"
    x = image(seed=1)
    for a, b in zip(derain(plain, x), derain(nhwc, x)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for parameter in nhwc.generator.parameters():  # the runner's copy, not the caller's
        parameter.data.zero_()
    for name, tensor in generator.state_dict().items():
        assert torch.equal(tensor, before[name])


def test_onnxruntime_runner_reuses_its_cache_and_redoes_a_damaged_one(generator, monkeypatch) -> None:
    first = onnxruntime_runner_for(generator)
    folder = default_folder(generator_sha256(generator))
    assert (folder / "attend_step.fp32.onnx.json").is_file()

    calls = []
    real = export.export_and_verify
    monkeypatch.setattr(export, "export_and_verify", lambda *a, **k: calls.append(1) or real(*a, **k))
    onnxruntime_runner_for(generator)
    assert calls == []
    path = folder / "restore.fp32.onnx"
    path.write_bytes(path.read_bytes()[:100])  # truncated: the manifest's sha256 no longer matches
    runner = onnxruntime_runner_for(generator)
    assert calls == [1]
    torch.testing.assert_close(derain(runner, image())[1], derain(first, image())[1])


def test_onnxruntime_runner_refuses_wrong_tensors_and_unreadable_graphs(generator, tmp_path) -> None:
    runner = onnxruntime_runner_for(generator)
    x = image().double()
    with pytest.raises(DerainError, match="takes torch.float32"):
        runner.restore(x, x[:, :1])
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(DerainError, match="ONNX Runtime could not load"):
        OnnxRuntimeRunner(bad, bad, TINY)


@pytest.mark.cuda
@cuda
def test_torch_cuda_fp16_and_cuda_graphs_match_the_cpu(generator) -> None:
    reference = derain(TorchRunner(generator), image())
    torch.backends.cudnn.benchmark = False
    half = select_runner(generator, "torch", "cuda")
    assert half.name == "torch-cuda-fp16-channels_last" and half.dtype == torch.float16
    assert torch.backends.cudnn.benchmark  # frames of one shape: cuDNN picks its kernels once
    graphs = TorchRunner(generator, "cuda", torch.float16, channels_last=True, cuda_graphs=True)
    compiled = select_runner(generator, "torch", "cuda", compile=True)
    assert compiled.name == "torch-cuda-fp16-channels_last-compiled"
    for runner in (half, graphs, compiled):
        mask, y = derain(runner, image())
        assert (y - reference[1]).abs().max() * 255 < 2
    first, again = derain(graphs, image()), derain(graphs, image(seed=5))
    assert not torch.equal(first[1], again[1])  # replays see new input


@pytest.mark.cuda
@cuda
def test_auto_on_cuda_without_engines_takes_torch_fp16(generator) -> None:
    heard: list[str] = []
    runner = select_runner(generator, "auto", "auto", report=heard.append)
    assert runner.name == "torch-cuda-fp16-channels_last"
    assert heard and heard[0].startswith("backend tensorrt skipped")


@pytest.mark.cuda
@cuda
def test_onnxruntime_cuda_provider_matches_the_cpu(generator) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    runner = select_runner(generator, "onnxruntime", "cuda")
    assert runner.name == "onnxruntime-cuda"
    reference = derain(select_runner(generator, "onnxruntime", "cpu"), image())
    torch.testing.assert_close(derain(runner, image())[1], reference[1], atol=1e-4, rtol=1e-4)


def test_the_cli_says_when_a_compile_will_hold_up_the_first_frames(capsys) -> None:
    from types import SimpleNamespace

    from cli import note_compile

    compiled = select_runner(tiny_generator(), "torch", "cpu", compile=True)  # torch.compile is lazy: no cost here
    for runner, quiet, heard in ((compiled, False, True), (compiled, True, False), (TorchRunner(tiny_generator()), False, False)):
        note_compile(SimpleNamespace(runner=runner), quiet)
        assert ("compiling the model" in capsys.readouterr().err) is heard
