"""Derainer: the Python API for still images. `Derainer()(rgb_uint8) -> rgb_uint8`."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

from .backends.base import Runner
from .backends.select import select_runner
from .checkpoint import LoadedModel, load_model
from .errors import DerainError
from .frames import crop_to, pad_to_multiple
from .temporal import full_pass
from .tiling import fit_runner


class DerainResult(NamedTuple):
    image: np.ndarray  # same shape and dtype as the input
    mask: np.ndarray  # (H, W) float32 in [0, 1]: where the drops were found


def _to_rgb_float(image: np.ndarray) -> tuple[np.ndarray, float]:
    if image.dtype == np.uint8:
        scale = 255.0
    elif image.dtype == np.uint16:
        scale = 65535.0
    else:
        raise DerainError(f"images must be uint8 or uint16, not {image.dtype}")
    if image.ndim == 2:
        rgb = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[:, :, :3]
    else:
        raise DerainError(f"images must be (H, W), (H, W, 3) or (H, W, 4), not {image.shape}")
    return rgb.astype(np.float32) / scale, scale


class Derainer:
    """Removes raindrops from single images with a model on a backend.

    `model` is a preset name (`lite`, `full`: its shipped weights) or a checkpoint path.
    Gray images come back gray, RGBA keeps its alpha, 16-bit stays 16-bit, and any size comes
    back at its own size (reflection padding, then cropping: no pixel is lost). `tile` ("auto" or
    a size) runs frames too big for the device in blended tiles; without it they are refused.
    `compile` runs the torch backend through torch.compile (see `select_runner`).
    """

    def __init__(
        self,
        model: str | Path | LoadedModel = "lite",
        device: str = "auto",
        backend: str = "auto",
        runner: Runner | None = None,
        tile: int | str | None = None,
        compile: bool = False,
    ) -> None:
        self.model = model if isinstance(model, LoadedModel) else load_model(model)
        self.runner = runner or select_runner(self.model.generator, backend=backend, device=device, compile=compile)
        self.tile = tile  # see stream_derain.tiling: None, "auto" or a size in pixels

    @property
    def trained(self) -> bool:
        return self.model.trained

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.derain(image).image

    def derain(self, image: np.ndarray) -> DerainResult:
        rgb, scale = _to_rgb_float(np.asarray(image))
        runner = self.runner
        x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).to(runner.device, runner.dtype)
        x, size = pad_to_multiple(x, runner.config.pad_multiple)
        runner = fit_runner(runner, *x.shape[-2:], tile=self.tile)
        state = full_pass(x, runner)
        restored = crop_to(runner.restore(x, state.mask), size)
        mask = crop_to(self.model.visible_mask(state.mask), size)[0, 0].float().cpu().numpy()
        out = restored[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        return DerainResult(self._like_input(out, image, scale), mask)

    @staticmethod
    def _like_input(out: np.ndarray, image: np.ndarray, scale: float) -> np.ndarray:
        values = np.rint(out * scale).astype(image.dtype)
        if image.ndim == 2:
            return cv2.cvtColor(values, cv2.COLOR_RGB2GRAY)
        if image.shape[2] == 4:
            return np.concatenate([values, image[:, :, 3:]], axis=2)
        return values
