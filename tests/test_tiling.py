"""Tiling: blended tiles match the whole frame (the seams are measured), and the memory plan
tiles only what cannot fit, or refuses with the limit in one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from stream_derain import tiling
from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.checkpoint import save_checkpoint
from stream_derain.errors import DerainError
from stream_derain.frames import tensor_to_frames
from stream_derain.models import LITE, Generator
from stream_derain.temporal import full_pass
from stream_derain.tiling import TiledRunner, overlap_for, plan_tile

# Lite's shape with one dilation, so its receptive field (and so the overlap) stays small enough
# for a small test frame to hold a few tiles.
CONFIG = dataclasses.replace(LITE, residual=False, gate=False, ae_dilations=(2,))
HEIGHT, WIDTH, TILE = 96, 128, 64  # 2 x 3 tiles


@pytest.fixture(scope="module")
def runner() -> TorchRunner:
    """Random weights and no residual, so every layer moves every pixel: an identity model would
    hide any seam."""
    torch.manual_seed(0)
    return TorchRunner(Generator(CONFIG).eval())


def scene() -> torch.Tensor:
    torch.manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, HEIGHT), torch.linspace(0, 1, WIDTH), indexing="ij")
    return (torch.stack([xx, yy, xx * yy]) * 0.8 + 0.2 * torch.rand(3, HEIGHT, WIDTH)).unsqueeze(0)


def derain(runner, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    state = full_pass(x, runner)
    return runner.restore(x, state.mask), state.mask


def test_tiled_output_matches_the_whole_frame_with_no_seam(runner, one_thread) -> None:
    x = scene()
    whole, whole_mask = derain(runner, x)
    tiled_runner = TiledRunner(runner, TILE)
    tiled, tiled_mask = derain(tiled_runner, x)
    naive, _ = derain(TiledRunner(runner, TILE, overlap=0), x)  # plain cut-and-paste tiles

    def worst(y: torch.Tensor) -> float:
        return (y - whole).abs().max().item() * 255  # in 8-bit grey levels

    # Figures on this frame: blended 0.18 grey levels at most; naive tiles 11, at their edges.
    assert worst(naive) > 5  # the measure does see seams when there are some
    assert worst(tiled) < 0.5
    assert (whole_mask - tiled_mask).abs().max() < 5e-3  # measured 1.1e-3
    # and in 8 bits, as the frame is written: at most one grey level apart, almost never that
    a, b = tensor_to_frames(whole).astype(int), tensor_to_frames(tiled).astype(int)
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.01


def test_tiles_of_a_model_with_a_coarse_branch_agree_within_two_grey_levels(one_thread) -> None:
    """The coarse branch sees 19 cells of 16 px: the overlap widens to cover it (144 px)."""
    torch.manual_seed(0)
    generator = Generator(dataclasses.replace(LITE, coarse_scale=16, pad_multiple=16)).eval()
    for head in (generator.autoencoder.coarse.head, generator.autoencoder.output):
        torch.nn.init.normal_(head.weight, std=0.05)
    runner = TorchRunner(generator)
    height, width = 384, 640
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    x = (torch.stack([xx, yy, xx * yy]) * 0.8 + 0.2 * torch.rand(3, height, width)).unsqueeze(0)
    whole, _ = derain(runner, x)
    tiled, _ = derain(TiledRunner(runner, 320), x)
    naive, _ = derain(TiledRunner(runner, 320, overlap=0), x)
    assert overlap_for(generator.config) == 144
    # Figures on this frame: blended 1.3 grey levels at most, naive tiles 20
    assert (naive - whole).abs().max() * 255 > 5
    assert (tiled - whole).abs().max() * 255 < 2


def test_layout_weights_sum_to_one_and_cover_every_pixel(runner) -> None:
    tiled = TiledRunner(runner, TILE)
    for scale, offset in ((1, 0), (CONFIG.arn_scale, 3)):
        total = torch.zeros(HEIGHT // scale, WIDTH // scale, dtype=torch.float64)
        for entry in tiled._layout(HEIGHT, WIDTH):
            rows, cols, weight = entry[offset : offset + 3]
            total[rows, cols] += weight.double()
        torch.testing.assert_close(total, torch.ones_like(total), atol=1e-5, rtol=0)


def test_the_plan_tiles_only_what_cannot_fit_and_states_the_limit() -> None:
    runner = SimpleNamespace(config=LITE, device=torch.device("cpu"), dtype=torch.float32)  # sizes only
    gib = tiling.GIB
    assert plan_tile(runner, 480, 720, budget=8 * gib) is None  # fits: whole frames
    assert plan_tile(runner, 480, 720, tile="auto", budget=8 * gib) is None
    # 8K through lite: about 14 GiB at once, so 4 GiB refuses it with the numbers...
    with pytest.raises(DerainError, match=r"7680x4320 frame needs about \d+\.\d GiB .* 4\.0 GiB free: use --tile auto"):
        plan_tile(runner, 4320, 7680, budget=4 * gib)
    # ...and --tile auto picks the biggest aligned tile that fits beside the frame's own buffers
    side = plan_tile(runner, 4320, 7680, tile="auto", budget=4 * gib)
    assert side % tiling.alignment(LITE) == 0 and side > overlap_for(LITE) + tiling.MIN_CORE
    frame = tiling.frame_bytes(LITE, torch.float32) * 4320 * 7680
    assert frame + tiling.bytes_per_pixel(LITE, torch.float32) * side**2 <= 4 * gib
    with pytest.raises(DerainError, match="even in tiles"):
        plan_tile(runner, 4320, 7680, tile="auto", budget=int(1.2 * gib))
    assert plan_tile(runner, 480, 720, tile=256, budget=8 * gib) == 256  # a size is taken as given
    with pytest.raises(DerainError, match="--tile takes auto"):
        tiling.parse_tile("big")


def test_cli_refuses_a_frame_that_cannot_fit_and_tiles_it_with_tile_auto(tmp_path: Path, run_cli, monkeypatch, untrained_presets) -> None:
    image = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    source = tmp_path / "big.png"
    cv2.imwrite(str(source), image)
    need = tiling.bytes_per_pixel(LITE, torch.float32) * 120 * 200
    monkeypatch.setattr(tiling, "memory_budget", lambda device: int(need * 0.9))  # room for 2 tiles
    result = run_cli("image", source, tmp_path / "out.png", "--backend", "torch", "-q")
    assert result.code == 2 and "use --tile auto" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "out.png").exists()
    result = run_cli("image", source, tmp_path / "out.png", "--backend", "torch", "-q", "--tile", "auto")
    assert result.code == 0, result.err
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png")), image)  # untrained lite: identity, tiles or not


@pytest.fixture(scope="module")
def lite_preset(tmp_path_factory) -> Path:
    """The lite preset without the shipped model's coarse branch, whose 144-pixel overlap would
    need frames too large for a quick test."""
    path = tmp_path_factory.mktemp("lite") / "lite.pt"
    save_checkpoint(path, Generator(LITE).eval())
    return path


def test_cli_video_with_tile_auto_tiles_frames_that_cannot_fit(tmp_path: Path, run_cli, monkeypatch, lite_preset) -> None:
    from test_video_clips import make_clip

    from stream_derain.video import DecodedFrame, VideoReader

    source = tmp_path / "in.mp4"
    make_clip(source, frames=3, size=(200, 120))
    need = tiling.bytes_per_pixel(LITE, torch.float32) * 120 * 200
    monkeypatch.setattr(tiling, "memory_budget", lambda device: int(need * 0.9))
    result = run_cli("video", source, tmp_path / "out.mp4", "--model", lite_preset, "--backend", "torch", "--batch", "1", "-q")
    assert result.code == 2 and "use --tile auto" in result.err and "Traceback" not in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    result = run_cli("video", source, tmp_path / "out.mp4", "--model", lite_preset, "--backend", "torch", "--batch", "1", "--tile", "auto", "--json")
    assert result.code == 0, result.err
    assert "(tiles 136px)" in result.out  # the smallest tile lite takes: 64 pixels inside a 72-pixel overlap
    with VideoReader(tmp_path / "out.mp4") as reader:
        assert sum(isinstance(item, DecodedFrame) for item in reader) == 3


def test_cli_live_refuses_a_frame_that_cannot_fit_and_tiles_it_with_tile_auto(tmp_path: Path, run_cli, monkeypatch, lite_preset) -> None:
    need = tiling.bytes_per_pixel(LITE, torch.float32) * 120 * 200
    monkeypatch.setattr(tiling, "memory_budget", lambda device: int(need * 0.9))
    source = "lavfi:testsrc2=size=200x120:rate=25"
    record = tmp_path / "rec.mp4"
    args = ("live", source, "--no-display", "--model", lite_preset, "--backend", "torch", "--max-frames", "2", "--record", record)
    result = run_cli(*args, "-q")
    assert result.code == 2 and "use --tile auto" in result.err and "Traceback" not in result.err
    assert list(tmp_path.iterdir()) == []  # no recording, not even a partial one
    result = run_cli(*args, "--tile", "auto", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["frames_out"] == 2 and "(tiles 136px)" in summary["backend"]
