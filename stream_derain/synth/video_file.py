"""Rainy video files: decode with PyAV, render, encode H.264 with the input's timing, keep the audio."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import DerainError
from ..safe_output import atomic_output, check_output_path
from .clips import RainyClip
from .config import RainConfig

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}


def is_video_path(path: Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def synth_video(
    clean: Path,
    out_dir: Path,
    config: RainConfig = RainConfig(),
    seed: int = 0,
    rain_rate: float = 0.03,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write OUT/STEM_rain.mp4 (same frame count, timestamps and audio as `clean`) beside
    OUT/STEM_clean.EXT (a copy of the input). Returns (rain, clean) paths."""
    clean = Path(clean)
    if config.sensor_noise is not None:
        # the clean twin is the input itself, which cannot carry the grain the rain would get
        raise DerainError("sensor noise needs images (or --frames): a video's clean copy would have no grain")
    rain_path, clean_copy = _pair_paths(clean, out_dir, clean.suffix, overwrite)
    try:
        source = av.open(str(clean))
    except (av.FFmpegError, OSError) as error:
        raise DerainError(f"cannot open video {clean}: {error}") from None
    with source:
        if not source.streams.video:
            raise DerainError(f"{clean} has no video stream")
        video_in = source.streams.video[0]
        audio_in = source.streams.audio[0] if source.streams.audio else None
        clip = RainyClip(np.random.default_rng(seed), config, rain_rate)
        with atomic_output(rain_path) as temporary, av.open(str(temporary), "w") as sink:
            video_out = _h264_stream(sink, video_in.codec_context.width, video_in.codec_context.height,
                                     video_in.average_rate or video_in.guessed_rate or Fraction(25), video_in.time_base)
            audio_out = sink.add_stream_from_template(audio_in) if audio_in is not None else None
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            for packet in source.demux(*streams):
                if packet.stream is audio_in:
                    if packet.dts is not None:  # the demuxer's empty flush packet
                        packet.stream = audio_out
                        sink.mux(packet)
                    continue
                for frame in packet.decode():
                    rainy = clip.render(frame.to_ndarray(format="rgb24")).rain
                    _encode(sink, video_out, rainy, frame.pts, frame.time_base)
            sink.mux(video_out.encode(None))
    with atomic_output(clean_copy) as temporary:
        shutil.copyfile(clean, temporary)
    return rain_path, clean_copy


def write_frame_pair(
    frames: Iterable[tuple[np.ndarray, np.ndarray]], out_dir: Path, stem: str, fps: float, overwrite: bool = False
) -> tuple[Path, Path]:
    """Encode (rain, clean) frame pairs as OUT/STEM_rain.mp4 and OUT/STEM_clean.mp4."""
    rain_path, clean_path = _pair_paths(Path(stem), out_dir, ".mp4", overwrite)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_output(rain_path) as rain_tmp, atomic_output(clean_path) as clean_tmp:
        with av.open(str(rain_tmp), "w") as rain_sink, av.open(str(clean_tmp), "w") as clean_sink:
            rain_out = clean_out = None
            for index, (rain, clean) in enumerate(frames):
                if rain_out is None:
                    rain_out = _h264_stream(rain_sink, rain.shape[1], rain.shape[0], rate, 1 / rate)
                    clean_out = _h264_stream(clean_sink, rain.shape[1], rain.shape[0], rate, 1 / rate)
                _encode(rain_sink, rain_out, rain, index, 1 / rate)
                _encode(clean_sink, clean_out, clean, index, 1 / rate)
            if rain_out is None:
                raise DerainError("no frames to write")
            rain_sink.mux(rain_out.encode(None))
            clean_sink.mux(clean_out.encode(None))
    return rain_path, clean_path


def _pair_paths(clean: Path, out_dir: Path, clean_suffix: str, overwrite: bool) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DerainError(f"output {out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    rain_path = out_dir / f"{clean.stem}_rain.mp4"
    clean_path = out_dir / f"{clean.stem}_clean{clean_suffix}"
    for path in (rain_path, clean_path):
        check_output_path(path, [clean] if clean.exists() else [], overwrite)
    return rain_path, clean_path


def _h264_stream(sink: av.container.OutputContainer, width: int, height: int, rate: Fraction, time_base: Fraction):
    stream = sink.add_stream("libx264", rate=rate)
    stream.width, stream.height = width, height
    # 4:2:0 needs even sizes; keep odd-sized input whole with 4:4:4 rather than crop it.
    stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    stream.time_base = time_base
    stream.options = {"crf": "16", "preset": "veryfast"}
    return stream


def _encode(sink: av.container.OutputContainer, stream, rgb: np.ndarray, pts: int | None, time_base: Fraction) -> None:
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts, frame.time_base = pts, time_base
    sink.mux(stream.encode(frame))
