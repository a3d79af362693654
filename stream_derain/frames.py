"""Moving frames between uint8 host arrays and padded NCHW model tensors, and back."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def frames_to_tensor(
    frames: np.ndarray | torch.Tensor, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(H, W, 3) or (N, H, W, 3) uint8 RGB -> (N, 3, H, W) in [0, 1] on `device`.

    The uint8 data crosses to the device first and is converted there: a quarter of the bytes.
    """
    batch = torch.as_tensor(frames)
    if batch.ndim == 3:
        batch = batch.unsqueeze(0)
    batch = batch.to(device, non_blocking=True).permute(0, 3, 1, 2)
    return batch.to(dtype).div_(255.0)


def tensor_to_frames(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] -> (N, H, W, 3) uint8 on the host, rounded and clipped."""
    # out-of-place first: .float() of a float32 tensor is the caller's own tensor
    scaled = images.detach().float().clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad bottom and right up to a multiple of `multiple`; return the original (H, W).

    Reflection is used where the frame is big enough for it, replication otherwise (1x1).
    """
    height, width = images.shape[-2:]
    pad_h = -height % multiple
    pad_w = -width % multiple
    if pad_h == 0 and pad_w == 0:
        return images, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode), (height, width)


def crop_to(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    height, width = size
    return images[..., :height, :width]
