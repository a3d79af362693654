"""The attentive loss's binary mask, as the paper makes it from a pair."""

from __future__ import annotations

import cv2
import numpy as np

PAPER_THRESHOLD = 30


def paper_mask(rain: np.ndarray, clean: np.ndarray, threshold: int = PAPER_THRESHOLD) -> np.ndarray:
    """(H, W) bool: max over channels of |rain - clean| above `threshold`, for uint8 images."""
    return channel_max(cv2.absdiff(rain, clean)) > threshold


def channel_max(image: np.ndarray) -> np.ndarray:
    """Max over the last axis of an (H, W, 3) image; slices beat a strided reduction."""
    return np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])
