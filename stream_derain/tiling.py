"""Frames too big for the device: run the model on overlapping tiles and blend them without seams.

`TiledRunner` wraps any Runner and is a Runner itself, so the temporal policies and the pipeline
never know. Each ARN step runs tile by tile and the new state (mask, h, c) is blended back into
one full-frame state, so neighbouring tiles agree before the next step; `restore` is blended the
same way. The blend weight falls smoothly to almost nothing at a tile's inner edges, where the
convolutions saw zero padding instead of the neighbour's pixels, and the overlap is about the
model's receptive field, so the tiled output matches the untiled one (tests/test_tiling.py
measures the seams).

`plan_tile` decides from a memory estimate: whole frames when they fit, else the biggest tile
that does; with tiling off, a frame that cannot fit is a DerainError that states the limit.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import torch

from .backends.base import AttentionState, Runner
from .errors import DerainError
from .models import ModelConfig

GIB = 1 << 30
MIN_CORE = 64  # smallest tile interior worth running: below it the overlap is most of the work


def parse_tile(text: str | None) -> int | str | None:
    """--tile: None/"off", "auto", or a tile size in pixels."""
    if text is None or text == "off":
        return None
    if text == "auto":
        return "auto"
    try:
        size = int(text)
    except ValueError:
        raise DerainError(f"--tile takes auto, off or a size in pixels, got {text!r}") from None
    if size < MIN_CORE:
        raise DerainError(f"--tile {size} is too small: tiles are at least {MIN_CORE} pixels")
    return size


def alignment(config: ModelConfig) -> int:
    """Tile edges must fall on the padding multiple and on the ARN's grid."""
    return math.lcm(config.pad_multiple, config.arn_scale)


def overlap_for(config: ModelConfig) -> int:
    """About the model's receptive radius: the autoencoder's (its 1/4-scale dilated context
    dominates), or the coarse branch's (9 cells each side) where it is wider."""
    context = 4 * (config.ae_convs_before_dilation + sum(config.ae_dilations) + config.ae_convs_after_dilation + 2)
    context = max(context, 9 * config.coarse_scale, 9 * config.fine_scale)
    step = alignment(config)
    return -(-context // step) * step


def bytes_per_pixel(config: ModelConfig, dtype: torch.dtype, device_type: str = "cpu") -> float:
    """Peak working memory per input pixel of one attend_step or restore.

    About `maps` feature maps of the widest layer are alive at once (the autoencoder's c1 at full
    scale, c2 at 1/2, c3 at 1/4; the ARN's 4 ConvLSTM gates of `arn_channels` at 1/arn_scale),
    plus the frame, mask and state. Fitted to measured peaks (docs/RELIABILITY.md), with
    headroom: the CPU's convolutions keep more scratch than cuDNN's.
    """
    maps = 11 if device_type == "cpu" else 7
    c1, c2, c3 = config.ae_channels
    arn = 4 * config.arn_channels / config.arn_scale**2
    widest = max(maps * c1, maps * c2 / 4, maps * c3 / 16, 4 * arn + 12)
    element = torch.finfo(dtype).bits // 8
    return (widest + 16) * element


def frame_bytes(config: ModelConfig, dtype: torch.dtype) -> float:
    """Per pixel, what a whole frame keeps while tiling: input and output, and the old and the
    new mask, h and c while a step blends one into the other, and the blend weights."""
    element = torch.finfo(dtype).bits // 8
    return (3 + 3 + 2 + 4 * config.arn_channels / config.arn_scale**2 + 3) * element


def memory_budget(device: torch.device) -> int:
    """Bytes the model may use: most of the GPU's free memory, or half the host's available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)  # torch's to reuse
        return int((free + cached) * 0.8)
    try:
        with open("/proc/meminfo") as info:
            fields = dict(line.split(":", 1) for line in info)
        return int(fields["MemAvailable"].split()[0]) * 1024 // 2
    except (OSError, KeyError, ValueError):
        pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
        return max(pages * os.sysconf("SC_PAGE_SIZE") // 2, 2 * GIB)


def plan_tile(
    runner: Runner, height: int, width: int, batch: int = 1, tile: int | str | None = None, budget: int | None = None
) -> int | None:
    """The tile size for padded frames of this size: None for whole frames.

    `tile`: None (whole frames, or a DerainError stating the limit when they cannot fit),
    "auto" (whole frames when they fit, else the biggest tile that does), or a size.
    """
    config = runner.config
    budget = memory_budget(runner.device) if budget is None else budget
    per_pixel = bytes_per_pixel(config, runner.dtype, runner.device.type) * batch
    whole = per_pixel * height * width
    if tile is None or (tile == "auto" and whole <= budget):
        if whole > budget:
            raise DerainError(
                f"a {width}x{height} frame needs about {whole / GIB:.1f} GiB for model {config.preset} on "
                f"{runner.device} (batch {batch}), more than the {budget / GIB:.1f} GiB free: use --tile auto"
            )
        return None
    step = alignment(config)
    overlap = overlap_for(config)
    if tile != "auto":
        size = max(step, int(tile) // step * step)
        return None if size >= height and size >= width else size
    room = budget - frame_bytes(config, runner.dtype) * batch * height * width
    side = int(math.sqrt(max(room, 0) / per_pixel)) // step * step
    if side < overlap + MIN_CORE:
        raise DerainError(
            f"a {width}x{height} frame does not fit in {budget / GIB:.1f} GiB on {runner.device} for model "
            f"{config.preset} even in tiles (batch {batch}): use a smaller --batch or another device"
        )
    return side


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: `tile` apart less the overlap, the last flush with the edge."""
    if size <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


@lru_cache(maxsize=64)
def _ramp(length: int, start: int, size: int, fade: int) -> torch.Tensor:
    """1 inside, a raised-cosine fall over `fade` pixels at edges inside the frame (not at its border)."""
    weight = torch.ones(length, dtype=torch.float64)
    if fade > 0:
        rise = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(fade, dtype=torch.float64) + 0.5) / fade)
        rise = rise.clamp_min(1e-3)  # a tile's edge still counts a little: no weight sum is ever 0
        if start > 0:
            weight[:fade] = torch.minimum(weight[:fade], rise[: min(fade, length)])
        if start + length < size:
            weight[-fade:] = torch.minimum(weight[-fade:], rise.flip(0)[-min(fade, length):])
    return weight


class TiledRunner:
    """Runs `runner` on overlapping `tile` x `tile` pieces of each padded frame and blends them."""

    def __init__(self, runner: Runner, tile: int, overlap: int | None = None) -> None:
        self.runner = runner
        self.config = runner.config
        self.device = runner.device
        self.dtype = runner.dtype
        self.fixed_shapes = runner.fixed_shapes
        step = alignment(self.config)
        self.overlap = overlap_for(self.config) if overlap is None else overlap
        if tile % step or self.overlap % step:
            raise DerainError(f"tiles and their overlap must be multiples of {step} pixels for model {self.config.preset}")
        if self.overlap >= tile:
            raise DerainError(f"--tile {tile} is smaller than the overlap tiles need ({self.overlap} pixels)")
        self.tile = tile
        self.name = f"{runner.name} (tiles {tile}px)"
        self._weights: dict[tuple, list] = {}

    def _layout(self, height: int, width: int) -> list[tuple[slice, slice, torch.Tensor, slice, slice, torch.Tensor]]:
        """For each tile: its full- and ARN-scale windows with their blend weights, normalised so
        that they sum to exactly 1 at every pixel."""
        key = (height, width)
        if key in self._weights:
            return self._weights[key]
        scale = self.config.arn_scale
        tile_h, tile_w = min(self.tile, height), min(self.tile, width)
        boxes = [(y, x) for y in _starts(height, tile_h, self.overlap) for x in _starts(width, tile_w, self.overlap)]
        layout = []
        totals = [torch.zeros(height, width, dtype=torch.float64), torch.zeros(height // scale, width // scale, dtype=torch.float64)]
        for y, x in boxes:
            tiles = []
            for s, total in zip((1, scale), totals):
                wy = _ramp(tile_h // s, y // s, height // s, self.overlap // s)
                wx = _ramp(tile_w // s, x // s, width // s, self.overlap // s)
                weight = wy[:, None] * wx[None, :]
                rows, cols = slice(y // s, (y + tile_h) // s), slice(x // s, (x + tile_w) // s)
                total[rows, cols] += weight
                tiles.append((rows, cols, weight))
            layout.append(tiles)
        result = []
        for tiles in layout:
            entry = []
            for (rows, cols, weight), total in zip(tiles, totals):
                entry += [rows, cols, (weight / total[rows, cols]).to(self.device, self.dtype)]
            result.append(tuple(entry))
        self._weights[key] = result
        return result

    def init_state(self, x: torch.Tensor) -> AttentionState:
        return self.runner.init_state(x)

    @torch.inference_mode()
    def attend_step(self, x: torch.Tensor, state: AttentionState) -> AttentionState:
        mask, h, c = (torch.zeros_like(t) for t in state)
        for rows, cols, weight, arn_rows, arn_cols, arn_weight in self._layout(*x.shape[-2:]):
            piece = AttentionState(state.mask[..., rows, cols], state.h[..., arn_rows, arn_cols], state.c[..., arn_rows, arn_cols])
            out = self.runner.attend_step(x[..., rows, cols].contiguous(), AttentionState(*(t.contiguous() for t in piece)))
            mask[..., rows, cols] += out.mask * weight
            h[..., arn_rows, arn_cols] += out.h * arn_weight
            c[..., arn_rows, arn_cols] += out.c * arn_weight
        return AttentionState(mask, h, c)

    @torch.inference_mode()
    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = torch.zeros_like(x)
        for rows, cols, weight, *_ in self._layout(*x.shape[-2:]):
            y[..., rows, cols] += self.runner.restore(x[..., rows, cols].contiguous(), mask[..., rows, cols].contiguous()) * weight
        return y


def fit_runner(runner: Runner, height: int, width: int, batch: int = 1, tile: int | str | None = None) -> Runner:
    """`runner` itself when whole frames fit (or a DerainError when they can't and `tile` is None);
    else a TiledRunner sized by `plan_tile`."""
    size = plan_tile(runner, height, width, batch, tile)
    return runner if size is None else TiledRunner(runner, size)
