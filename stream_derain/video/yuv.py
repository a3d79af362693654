"""RGB to planar YUV 4:2:0 in torch, as FFmpeg's swscale does it, so a GPU can convert frames
before they are downloaded: half the bytes cross the bus, and the encoder's CPU thread skips
swscale (without it the encode stage ran 1.7x to 2.5x faster at 1080p with libx264 ultrafast:
docs/BENCHMARKS.md).

Matches `av.VideoFrame.reformat(format="yuv420p", ...)` to one level: the same matrices and
ranges, and swscale's chroma filter (a 2-pixel average across, a 1-3-3-1 filter down) and its
full-range chroma, which sits half a level under 128 + 255 C.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# AVColorSpace codes -> (Kr, Kb); unspecified (2) is what swscale treats as BT.601
_MATRICES = {1: (0.2126, 0.0722), 2: (0.299, 0.114), 5: (0.299, 0.114), 6: (0.299, 0.114), 9: (0.2627, 0.0593)}
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG; anything else is encoded as limited (16..235) range


@dataclass(frozen=True)
class Yuv420Format:
    kr: float
    kb: float
    full_range: bool

    @classmethod
    def for_output(cls, colorspace: int, color_range: int) -> Yuv420Format | None:
        """The conversion a yuv420p output with these tags needs, or None where swscale must do it."""
        if colorspace not in _MATRICES:
            return None
        return cls(*_MATRICES[colorspace], color_range == _FULL_RANGE)


def rgb_to_yuv420p(images: torch.Tensor, form: Yuv420Format) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1], H and W even -> (N, H * 3 // 2, W) uint8: each frame's Y, U and
    V planes one after the other, the layout `av.VideoFrame.from_ndarray(..., "yuv420p")` takes."""
    n, _, height, width = images.shape
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs an even frame size, not {width}x{height}")
    x = images.float().clamp(0.0, 1.0)
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    y = form.kr * r + (1.0 - form.kr - form.kb) * g + form.kb * b
    chroma = torch.cat(((b - y) / (2.0 * (1.0 - form.kb)), (r - y) / (2.0 * (1.0 - form.kr))), 1)
    # swscale's chroma: 1-3-3-1 down (edge rows repeated), a 2-pixel average across
    # (strided slices, not a conv: no filter tensor to copy to the device for every batch)
    rows = F.pad(chroma, (0, 0, 1, 1), mode="replicate")
    chroma = (rows[:, :, 0:height:2] + 3.0 * (rows[:, :, 1 : height + 1 : 2] + rows[:, :, 2 : height + 2 : 2])
              + rows[:, :, 3 : height + 3 : 2]) / 8.0
    chroma = F.avg_pool2d(chroma, (1, 2))
    if form.full_range:
        luma, chroma = y * 255.0, chroma * 255.0 + 127.5
    else:
        luma, chroma = y * 219.0 + 16.0, chroma * 224.0 + 128.0
    planes = (luma.reshape(n, -1), chroma.reshape(n, -1))
    return torch.cat(planes, 1).round_().clamp_(0, 255).to(torch.uint8).view(n, height * 3 // 2, width)
