"""ONNX export and parity, the artifact cache, and `derain build-engine` where TensorRT is missing."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import onnx
import pytest
import torch

import engines.export as export
from engines.build import EXIT_NO_TENSORRT
from engines.cache import (
    cache_root,
    default_folder,
    file_sha256,
    generator_sha256,
    onnx_path,
    read_manifest,
    stale_reasons,
)
from engines.tensorrt import ShapeProfile, parse_shape, trtexec_command
from stream_derain.checkpoint import save_checkpoint
from stream_derain.errors import DerainError
from conftest import TINY_LITE_CONFIG
from stream_derain.models import build_generator

TINY = TINY_LITE_CONFIG

def tiny_generator(seed: int = 0):
    torch.manual_seed(seed)
    model = build_generator(TINY).eval()
    torch.nn.init.normal_(model.autoencoder.output.weight, std=0.2)  # a zero head would make restore trivial
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    generator = tiny_generator()
    folder = tmp_path_factory.mktemp("onnx")
    return generator, folder, export.export_and_verify(generator, folder)


def test_both_graphs_in_both_precisions_pass_parity(exported) -> None:
    generator, folder, results = exported
    assert [(r.graph, r.precision) for r in results] == [
        ("attend_step", "fp32"), ("restore", "fp32"), ("attend_step", "fp16"), ("restore", "fp16")
    ]
    for result in results:
        assert result.max_rel_error < result.tolerance
        assert result.tolerance == (1e-4 if result.precision == "fp32" else 1e-2)
        assert {size[0] for size in result.sizes} == {1, 2}  # batch is exercised, not only H and W
        manifest = read_manifest(result.path)
        assert manifest.weights_sha256 == generator_sha256(generator)
        assert manifest.max_rel_error == result.max_rel_error and manifest.opset == export.OPSET
        assert stale_reasons(result.path, {"weights_sha256": generator_sha256(generator)}) == []


def test_a_model_with_branches_and_a_detail_gain_exports_with_parity(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_generator(dataclasses.replace(TINY, coarse_scale=8, fine_scale=4, coarse_channels=4, detail_gain=True)).eval()
    for head in (model.autoencoder.coarse.head, model.autoencoder.fine.head, model.autoencoder.detail):
        torch.nn.init.normal_(head.weight, std=0.2)  # heads that act: new ones start at zero
    results = export.export_and_verify(model, tmp_path)
    assert {(r.graph, r.precision) for r in results} == {(g, p) for g in ("attend_step", "restore") for p in ("fp32", "fp16")}
    assert all(result.max_rel_error < result.tolerance for result in results)


def test_graphs_have_dynamic_batch_height_width_and_fp16_weights(exported) -> None:
    _, folder, _ = exported
    for precision, elem in (("fp32", onnx.TensorProto.FLOAT), ("fp16", onnx.TensorProto.FLOAT16)):
        model = onnx.load(onnx_path(folder, "attend_step", precision))
        dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
        assert dims == {
            "x": ["batch", 3, "height", "width"],
            "mask": ["batch", 1, "height", "width"],
            "h": ["batch", 4, "arn_height", "arn_width"],
            "c": ["batch", 4, "arn_height", "arn_width"],
        }
        assert [o.name for o in model.graph.output] == ["mask_out", "h_out", "c_out"]
        assert {i.type.tensor_type.elem_type for i in model.graph.input} == {elem}
        assert {t.data_type for t in model.graph.initializer if t.dims} == {elem}


def test_parity_check_catches_a_wrong_graph(exported, tmp_path, monkeypatch) -> None:
    generator, folder, _ = exported
    other = tiny_generator(seed=1)
    assert export.check_parity(other, "restore", onnx_path(folder, "restore", "fp32")) > 1e-2
    # fp16 attend_step is judged by its chained masks: another model's graph must fail that too
    assert export.check_parity(other, "attend_step", onnx_path(folder, "attend_step", "fp16"), "fp16") > 1e-2

    real_export = export.export_graph
    monkeypatch.setattr(export, "export_graph", lambda g, graph, path, precision="fp32": real_export(other, graph, path, precision))
    with pytest.raises(export.ParityError, match=r"attend_step \(fp32\).*max relative error [0-9.e+-]+, over the 0.0001"):
        export.export_and_verify(generator, tmp_path)
    assert not onnx_path(tmp_path, "attend_step", "fp32").exists()


def test_stale_reasons_name_wrong_weights_and_damaged_files(exported, tmp_path) -> None:
    _, folder, _ = exported
    path = tmp_path / "restore.fp32.onnx"
    path.write_bytes(onnx_path(folder, "restore", "fp32").read_bytes())
    (tmp_path / "restore.fp32.onnx.json").write_text(
        (folder / "restore.fp32.onnx.json").read_text()
    )
    assert stale_reasons(path, {"weights_sha256": "f" * 64})[0].startswith("weights_sha256 is")
    path.write_bytes(path.read_bytes() + b"x")
    assert any("corrupted" in reason for reason in stale_reasons(path, {}))
    (tmp_path / "restore.fp32.onnx.json").write_text("{not json")
    assert stale_reasons(path, {}) == ["restore.fp32.onnx has no readable manifest"]
    assert stale_reasons(tmp_path / "missing.onnx", {}) == ["missing.onnx does not exist"]


def test_sha_is_the_checkpoints_and_follows_the_values(tmp_path) -> None:
    generator = tiny_generator()
    assert generator_sha256(generator) == save_checkpoint(tmp_path / "g.pt", generator)
    assert generator_sha256(generator) != generator_sha256(tiny_generator(seed=2))


def test_cache_location(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("STREAM_DERAIN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "stream-derain"
    monkeypatch.setenv("STREAM_DERAIN_CACHE", str(tmp_path / "mine"))
    assert default_folder("abcdef0123456789") == tmp_path / "mine" / "engines" / "abcdef012345"


def test_shapes_parse_round_up_and_order() -> None:
    assert parse_shape("480x720", 8) == (1, 480, 720)
    assert parse_shape("2x481x719", 8) == (2, 488, 720)
    for bad in ("480", "ax480x720", "0x8x8", "1x2x3x4"):
        with pytest.raises(DerainError, match="bad shape"):
            parse_shape(bad, 8)
    with pytest.raises(DerainError, match="min <= opt <= max"):
        ShapeProfile.parse("1x64x64", "1x32x32", "1x128x128", 8)
    profile = ShapeProfile.parse("64x64", "1x480x720", "2x1080x1920", 8)
    assert profile.max == (2, 1080, 1920) and profile.contains(2, 480, 720) and not profile.contains(3, 480, 720)


def test_trtexec_command_matches_the_profile(tmp_path) -> None:
    profile = ShapeProfile((1, 64, 64), (1, 480, 720), (2, 1088, 1920))
    command = trtexec_command(tmp_path, "attend_step", TINY, profile, 2048)
    assert f"--onnx={tmp_path / 'attend_step.fp16.onnx'}" in command
    assert f"--saveEngine={tmp_path / 'attend_step.fp16.engine'}" in command
    assert "--stronglyTyped" in command and "--fp16" not in command
    assert "--minShapes=x:1x3x64x64,mask:1x1x64x64,h:1x4x32x32,c:1x4x32x32" in command
    assert "--maxShapes=x:2x3x1088x1920,mask:2x1x1088x1920,h:2x4x544x960,c:2x4x544x960" in command
    assert "--memPoolSize=workspace:2048M" in command and f"--timingCacheFile={tmp_path / 'timing.cache'}" in command


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="checks the no-TensorRT path")
def test_build_engine_cli_without_tensorrt(run_cli, tmp_path) -> None:
    checkpoint = tmp_path / "tiny.pt"
    sha = save_checkpoint(checkpoint, tiny_generator())
    out = tmp_path / "engines"
    result = run_cli("build-engine", "--model", checkpoint, "--out", out, "--opt-shape", "256x256", "--max-shape", "2x512x512")
    assert result.code == EXIT_NO_TENSORRT == 3
    assert "TensorRT engines NOT built: TensorRT is not installed" in result.err
    assert result.err.count("trtexec --onnx=") == 2 and "--maxShapes=x:2x3x512x512" in result.err
    for name in ("attend_step", "restore"):
        for precision in ("fp32", "fp16"):
            manifest = json.loads((out / f"{name}.{precision}.onnx.json").read_text())
            assert manifest["weights_sha256"] == sha
            assert manifest["file_sha256"] == file_sha256(out / f"{name}.{precision}.onnx")
    assert "max relative error" in result.out and "up to date" not in result.out
    again = run_cli("build-engine", "--model", checkpoint, "--out", out)
    assert again.code == 3 and "ONNX graphs in" in again.out and "up to date" in again.out


def test_build_engine_cli_rejects_bad_input(run_cli, tmp_path) -> None:
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, tiny_generator())
    result = run_cli("build-engine", "--model", checkpoint, "--out", tmp_path, "--min-shape", "big")
    assert result.code == 2 and "bad shape 'big'" in result.err
    assert run_cli("build-engine", "--model", tmp_path / "nope.pt").code == 2


def test_build_engine_cli_reports_a_failed_parity_check(run_cli, tmp_path, monkeypatch) -> None:
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, tiny_generator())
    monkeypatch.setattr(export, "TOLERANCE", {"fp32": 0.0, "fp16": 0.0})
    result = run_cli("build-engine", "--model", checkpoint, "--out", tmp_path / "out")
    assert result.code == 4 and "disagrees with torch: max relative error" in result.err


def test_cache_digest_tells_apart_configs_that_share_weight_shapes():
    from dataclasses import replace

    from engines.cache import generator_sha256
    from stream_derain.models import LITE, Generator

    half_res_arn = Generator(LITE)
    full_res_arn = Generator(replace(LITE, arn_scale=1))
    full_res_arn.load_state_dict(half_res_arn.state_dict())  # same weights, different graph
    assert generator_sha256(half_res_arn) != generator_sha256(full_res_arn)
