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
from stream_derain.video.reader import RGB_COLORSPACE
from stream_derain.video.yuv import Yuv420Format, rgb_to_yuv420p

DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU")])]


def textured(height: int, width: int) -> np.ndarray:
    coarse = (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def planes(frame: np.ndarray, height: int, width: int) -> list[np.ndarray]:
    flat = frame.astype(int).reshape(-1)
    return [flat[: height * width], flat[height * width : height * width * 5 // 4], flat[height * width * 5 // 4 :]]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", [(48, 64), (30, 42)])
def test_conversion_matches_swscale_as_the_writer_calls_it(device: str, size: tuple[int, int]) -> None:
    """Every AVColorSpace code and range the writer may meet: where a conversion is offered, it is
    swscale's own to one level, with no plane off on average (a scale or offset slip shows there)."""
    height, width = size
    image = textured(height, width)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(device)
    offered = 0
    for colorspace in range(15):
        for color_range in range(3):
            form = Yuv420Format.for_output(colorspace, color_range)
            if form is None:
                continue
            offered += 1
            swscale = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=colorspace if colorspace != RGB_COLORSPACE else None,
                dst_color_range=color_range or None,
            ).to_ndarray()
            ours = rgb_to_yuv420p(x, form)[0].cpu().numpy()
            assert ours.shape == swscale.shape
            for mine, theirs in zip(planes(ours, height, width), planes(swscale, height, width)):
                assert np.abs(mine - theirs).max() <= 1 and abs((mine - theirs).mean()) < 0.15
    assert offered == 15  # codes 1, 2, 5, 6 and 9, each in three ranges


def test_no_conversion_is_offered_where_swscale_would_differ_and_odd_sizes_are_refused() -> None:
    assert Yuv420Format.for_output(0, 1) is None  # RGB-tagged source: swscale picks the matrix
    assert Yuv420Format.for_output(7, 1) is None  # SMPTE 240M: not converted here
    assert Yuv420Format.for_output(1, 2) == Yuv420Format(0.2126, 0.0722, True)
    with pytest.raises(ValueError, match="even frame size"):
        rgb_to_yuv420p(torch.zeros(1, 3, 47, 64), Yuv420Format(0.299, 0.114, False))


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


def test_the_writer_takes_planes_only_where_it_offered_them(tmp_path: Path) -> None:
    source = tmp_path / "rain.mp4"
    make_clip(source, frames=1, size=(64, 48))
    with VideoReader(source, passthrough=False) as reader:
        info = reader.info
    writer = VideoWriter(tmp_path / "out.mp4", info, EncoderOptions())
    with pytest.raises(ValueError, match="do not fit"):
        writer.write_frame(np.zeros((48, 64), np.uint8), 0)  # the shape of RGB rows, not of yuv420p
    writer.write_frame(np.zeros((72, 64), np.uint8), 0)
    writer.close()
    mkv = VideoWriter(tmp_path / "out.mkv", info, EncoderOptions(pix_fmt="yuv444p"))
    with pytest.raises(ValueError, match="yuv444p"):
        mkv.write_frame(np.zeros((72, 64), np.uint8), 0)
    mkv.abort()

