"""Image quality by the paper's protocol, and temporal flicker for video.

The protocol (the DeRaindrop evaluation script): crop both images to a multiple of 4 from the
top-left, take the Y channel of OpenCV's BGR->YCrCb conversion, then PSNR with data range 255
and SSIM with scikit-image's defaults (7x7 uniform window, sample covariance, K1=0.01,
K2=0.03). Numbers computed this way are comparable with the literature.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

WINDOW = 7
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0


class Scores(NamedTuple):
    psnr: float
    ssim: float


def luma(rgb: np.ndarray) -> np.ndarray:
    """The Y channel (float64, 0..255) of an RGB uint8 image cropped to a multiple of 4."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    bgr = np.ascontiguousarray(rgb[:height, :width, ::-1])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[:, :, 0].astype(np.float64)


def _check_pair(output: np.ndarray, target: np.ndarray) -> None:
    if output.shape != target.shape:
        raise ValueError(f"images differ in size: {output.shape} vs {target.shape}")


def psnr_y(output_y: np.ndarray, target_y: np.ndarray) -> float:
    mse = float(np.mean((output_y - target_y) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)


def ssim_y(output_y: np.ndarray, target_y: np.ndarray) -> float:
    """scikit-image's `structural_similarity` defaults, with box filters from OpenCV (faster)."""
    if min(output_y.shape) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW}x{WINDOW} pixels")

    def mean(image: np.ndarray) -> np.ndarray:
        return cv2.blur(image, (WINDOW, WINDOW), borderType=cv2.BORDER_REFLECT_101)

    x, y = output_y, target_y
    sample = WINDOW * WINDOW / (WINDOW * WINDOW - 1)  # unbiased covariance, as skimage
    ux, uy = mean(x), mean(y)
    vx = sample * (mean(x * x) - ux * ux)
    vy = sample * (mean(y * y) - uy * uy)
    vxy = sample * (mean(x * y) - ux * uy)
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    ssim_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    border = (WINDOW - 1) // 2  # skimage averages only where the window fits inside the image
    return float(ssim_map[border:-border, border:-border].mean())


def score(output: np.ndarray, target: np.ndarray) -> Scores:
    """PSNR (dB) and SSIM of an RGB uint8 image against its clean RGB uint8 target."""
    _check_pair(output, target)
    output_y, target_y = luma(output), luma(target)
    return Scores(psnr_y(output_y, target_y), ssim_y(output_y, target_y))


def flicker(outputs: np.ndarray, cleans: np.ndarray) -> float:
    """Temporal flicker: mean |(out_t - out_{t-1}) - (clean_t - clean_{t-1})|, in [0, 1] units.

    `outputs` and `cleans` are (T, H, W, C) frame stacks, uint8 (0..255) or float (0..1). Zero
    means the output changes from frame to frame exactly as the clean video does.
    """
    _check_pair(outputs, cleans)
    if len(outputs) < 2:
        raise ValueError("flicker needs at least two frames")

    def as_unit(frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        return frames.astype(np.float64) / 255.0 if frames.dtype == np.uint8 else frames.astype(np.float64)

    out, clean = as_unit(outputs), as_unit(cleans)
    return float(np.mean(np.abs(np.diff(out, axis=0) - np.diff(clean, axis=0))))
