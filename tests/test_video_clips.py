"""Tiny test clips built with PyAV (and lavfi), shared by the video tests; plus checks that the
clips really are what the other tests assume (VFR, 5.1 audio, rotation, tags)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT = 35, 51  # odd on purpose


def scene(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A smooth gradient with a moving block: compresses well, so a round trip stays close."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 90)], axis=2)
    left = (index * 3) % (width - 8)
    image[10:20, left : left + 8] = (240, 40, 40)
    return image.astype(np.uint8)


def make_clip(
    path: Path,
    *,
    frames: int = 8,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    codec: str = "libx264",
    pix_fmt: str | None = None,
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 1000),
    rate: int = 10,
    audio_layout: str | None = None,
    subtitles: bool = False,
    rotation: int | None = None,
    full_range_bt709: bool = False,
) -> list[np.ndarray]:
    """Write a clip and return its frames as given to the encoder. `pts` (in `time_base`) makes
    it variable-frame-rate; by default frames are 1/rate apart."""
    width, height = size
    pts = pts or [round(i / (rate * time_base)) for i in range(frames)]
    images = [scene(i, width, height) for i in range(len(pts))]
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height = width, height
        video.pix_fmt = pix_fmt or ("yuv444p" if width % 2 or height % 2 else "yuv420p")
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if codec == "libx264":
            video.codec_context.options = {"crf": "10", "preset": "ultrafast"}
        if rotation is not None:
            video.set_display_rotation(rotation)
        if full_range_bt709:
            context = video.codec_context
            context.color_range, context.colorspace, context.color_primaries, context.color_trc = 2, 1, 1, 1
        sound = container.add_stream("aac", rate=48000, layout=audio_layout) if audio_layout else None
        text = container.add_mux_stream("subrip") if subtitles else None
        if text is not None:
            text.time_base = Fraction(1, 1000)
        for image, stamp in zip(images, pts):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if full_range_bt709:
                frame = frame.reformat(format=video.pix_fmt, dst_colorspace=1, dst_color_range=2)
            frame.pts = stamp
            frame.time_base = time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        seconds = float((pts[-1] + 1 / (rate * time_base)) * time_base)
        if sound is not None:
            channels = sound.codec_context.layout.nb_channels
            t = np.arange(int(seconds * 48000)) / 48000
            tones = np.stack([0.1 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)])
            for start in range(0, tones.shape[1], 1024):
                chunk = np.ascontiguousarray(tones[:, start : start + 1024], dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=audio_layout)
                frame.sample_rate, frame.pts = 48000, start
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
        if text is not None:
            for i, start in enumerate((0, int(seconds * 500))):
                packet = av.Packet(f"line {i}".encode())
                packet.stream = text
                packet.pts = packet.dts = start
                packet.duration = 100
                packet.time_base = Fraction(1, 1000)
                container.mux(packet)
    return images


def make_audio_only(path: Path) -> None:
    with av.open(str(path), "w") as container:
        sound = container.add_stream("aac", rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode(None))


def make_lavfi_clip(path: Path, frames: int = 6) -> None:
    """FFmpeg's own test source, through lavfi, into MPEG-4 Part 2 in AVI: another codec and container."""
    with av.open(f"testsrc2=size=48x32:rate=12:duration={frames / 12}", format="lavfi") as source, av.open(
        str(path), "w"
    ) as container:
        video = container.add_stream("mpeg4", rate=12)
        video.width, video.height, video.pix_fmt = 48, 32, "yuv420p"
        for frame in source.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            frame.pict_type = 0
            container.mux(video.encode(frame))
        container.mux(video.encode(None))


def demuxed(path: Path, kind: str) -> list[tuple[bytes, int | None, int | None]]:
    """(bytes, pts, dts) of every packet of the first `kind` stream ('audio', 'subtitle')."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [(bytes(p), p.pts, p.dts) for p in container.demux(stream) if p.size]


def decoded_timing(path: Path) -> list[tuple[int, int | None]]:
    with av.open(str(path)) as container:
        return [(f.pts, f.duration) for f in container.decode(video=0)]


def test_vfr_clip_has_uneven_frame_spacing(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mkv"
    make_clip(path, pts=[0, 40, 160, 200, 420, 460])
    times = [pts for pts, _ in decoded_timing(path)]
    assert times == [0, 40, 160, 200, 420, 460]
    assert len(set(np.diff(times))) > 1


def test_clip_carries_51_audio_subtitles_rotation_and_tags(tmp_path: Path) -> None:
    path = tmp_path / "all.mkv"
    make_clip(path, audio_layout="5.1", subtitles=True, rotation=90, full_range_bt709=True)
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.layout.nb_channels == 6
        assert container.streams.subtitles[0].codec_context is not None
        frame = next(container.decode(video=0))
        assert (frame.rotation, frame.color_range, frame.colorspace) == (90, 2, 1)
    assert len(demuxed(path, "subtitle")) == 2
