"""RGB to yuv420p on the device: the same numbers as swscale, and the same video out of the pipeline."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from test_pipeline import tiny_runner
from test_video_clips import make_clip

from stream_derain.pipeline import run_pipeline
from stream_derain.temporal import NonePolicy
from stream_derain.video import EncoderOptions, VideoReader, VideoWriter
from stream_derain.video.yuv import Yuv420Format, rgb_to_yuv420p

# (name PyAV takes, AVColorSpace code); (name, AVColorRange code); None: unspecified
COLORSPACES = [("ITU601", 5), ("ITU709", 1), ("BT2020", 9), (None, 2)]
RANGES = [("MPEG", 1), ("JPEG", 2), (None, 0)]


def textured(height: int, width: int) -> np.ndarray:
    coarse = (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("colorspace", COLORSPACES)
@pytest.mark.parametrize("color_range", RANGES)
@pytest.mark.parametrize("size", [(48, 64), (30, 42)])
def test_conversion_matches_swscale_to_one_level(colorspace, color_range, size) -> None:
    image = textured(*size)
    swscale = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=colorspace[0], dst_color_range=color_range[0]
    ).to_ndarray()
    form = Yuv420Format.for_output(colorspace[1], color_range[1])
    ours = rgb_to_yuv420p(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255, form)[0].numpy()
    difference = np.abs(ours.astype(int) - swscale.astype(int))
    assert ours.shape == swscale.shape and difference.max() <= 1 and difference.mean() < 0.25


def test_colorspaces_swscale_cannot_match_fall_back_to_rgb() -> None:
    assert Yuv420Format.for_output(0, 1) is None  # RGB-tagged source: swscale picks the matrix
    assert Yuv420Format.for_output(7, 1) is None  # SMPTE 240M: not converted here
    assert Yuv420Format.for_output(1, 2) == Yuv420Format(0.2126, 0.0722, True)


class CountingWriter:
    """Forwards to a VideoWriter and remembers the shapes it was given."""

    def __init__(self, writer: VideoWriter) -> None:
        self.writer, self.dims = writer, set()

    def write_frame(self, image, pts, duration=None) -> None:
        self.dims.add(image.ndim)
        self.writer.write_frame(image, pts, duration)

    def write_packet(self, packet) -> None:
        self.writer.write_packet(packet)


def test_frames_converted_on_the_device_encode_like_rgb_frames(tmp_path: Path) -> None:
    source = tmp_path / "rain.mp4"
    make_clip(source, frames=6, size=(64, 48))
    decoded, dims = {}, {}
    for name in ("rgb", "yuv"):
        target = tmp_path / f"{name}.mp4"
        with VideoReader(source, passthrough=False) as reader:
            writer = VideoWriter(target, reader.info, EncoderOptions(crf=0, preset="ultrafast"))
            assert writer.yuv420_format is not None
            sink = CountingWriter(writer)
            yuv420 = writer.yuv420_format if name == "yuv" else None
            assert run_pipeline(reader, sink, tiny_runner(), NonePolicy(), batch=4, yuv420=yuv420) == 6
            writer.close()
        dims[name] = sink.dims
        with av.open(str(target)) as container:
            decoded[name] = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]).astype(int)
    assert dims == {"rgb": {3}, "yuv": {2}}
    difference = np.abs(decoded["yuv"] - decoded["rgb"])
    assert decoded["yuv"].shape == (6, 48, 64, 3) and difference.mean() < 0.5 and difference.max() <= 4
