"""The attentive loss's binary mask, as the paper makes it from a pair."""

from __future__ import annotations

import cv2
import numpy as np

PAPER_THRESHOLD = 30
MASK_WINDOW = 5  # px: the attention target thresholds the local mean of |rain - clean|


def paper_mask(rain: np.ndarray, clean: np.ndarray, threshold: int = PAPER_THRESHOLD) -> np.ndarray:
    """(H, W) bool: max over channels of |rain - clean| above `threshold`, for uint8 images."""
    return channel_max(cv2.absdiff(rain, clean)) > threshold


def local_difference(rain: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """(H, W) float32: the MASK_WINDOW local mean of the channel-max |rain - clean|, for uint8
    images. A drop over fine texture is one solid region, not speckle that depends on which
    pixels of the texture the drop's view happens to match."""
    return cv2.blur(channel_max(cv2.absdiff(rain, clean)).astype(np.float32), (MASK_WINDOW, MASK_WINDOW))


def channel_max(image: np.ndarray) -> np.ndarray:
    """Max over the last axis of an (H, W, 3) image; slices beat a strided reduction."""
    return np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])
