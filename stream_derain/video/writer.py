"""Encode RGB frames with the source's timestamps and tags; copy audio/subtitle packets as they are."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import DerainError
from .reader import RGB_COLORSPACE, VideoInfo
from .yuv import Yuv420Format


@dataclass(frozen=True)
class Encoder:
    """How one encoder spells the options we expose, and its defaults."""

    quality_option: str  # constant-quality knob that --crf sets
    default_quality: int
    preset_option: str
    default_preset: str
    extra: tuple[tuple[str, str], ...] = ()
    gpu: bool = False


ENCODERS: dict[str, Encoder] = {
    "libx264": Encoder("crf", 18, "preset", "medium"),
    "libx265": Encoder("crf", 20, "preset", "medium", (("x265-params", "log-level=error"),)),
    # libvpx's default speed (cpu-used 1) is far slower than the model; 4 with row threads is not
    "libvpx-vp9": Encoder("crf", 30, "cpu-used", "4", (("row-mt", "1"), ("deadline", "good"))),
    "libsvtav1": Encoder("crf", 30, "preset", "8"),
    "h264_nvenc": Encoder("cq", 21, "preset", "p4", (("rc", "vbr"),), gpu=True),
    "hevc_nvenc": Encoder("cq", 23, "preset", "p4", (("rc", "vbr"),), gpu=True),
}


@dataclass(frozen=True)
class EncoderOptions:
    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None  # None: yuv420p, or yuv444p where the size is odd
    bitrate: str | None = None  # "4M", "800k" or bits per second; replaces constant quality

    def validate(self) -> None:
        if self.codec not in ENCODERS:
            raise DerainError(f"unknown encoder {self.codec!r}; choose from {', '.join(ENCODERS)}")
        if self.crf is not None and self.bitrate is not None:
            raise DerainError("--crf and --bitrate exclude each other: give one")
        if self.bitrate is not None:
            parse_bitrate(self.bitrate)


def parse_bitrate(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*", text)
    if not match:
        raise DerainError(f"bad bitrate {text!r}: use bits per second, e.g. 4M, 800k or 2500000")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


class VideoWriter:
    """Opens OUT (its container from the extension), one encoded video stream plus copied ones.

    The encoder is opened here, not at the first frame, so a bad option fails before any work.
    """

    def __init__(
        self,
        path: Path | str,
        info: VideoInfo,
        options: EncoderOptions = EncoderOptions(),
        passthrough: Sequence[av.stream.Stream] = (),
    ) -> None:
        options.validate()
        self.path = Path(path)
        self.info = info
        self.warnings: list[str] = []
        self.dropped_packets = 0
        try:
            self.container = av.open(str(self.path), "w")
        except ValueError:
            raise DerainError(f"cannot tell the container format from {self.path.name!r}: use .mp4, .mkv, .mov or .webm") from None
        try:
            self._check_supported(options.codec, "video encoder")
            for stream in passthrough:
                self._check_supported(stream.codec_context.name, f"{stream.type} stream #{stream.index}")
            self.pix_fmt = self._pixel_format(options)
            self.stream = self._add_video_stream(options)
            self._copies = {s.index: self.container.add_stream_from_template(s) for s in passthrough}
            self._start(options)
        except BaseException:
            self.container.close()
            raise

    def _check_supported(self, codec: str, what: str) -> None:
        if codec not in self.container.supported_codecs:
            hint = " (or --no-audio to drop audio and subtitles)" if what != "video encoder" else ""
            raise DerainError(
                f"{self.path.suffix or self.path.name} files cannot hold the {codec} {what}: "
                f"choose another extension{hint}"
            )

    def _pixel_format(self, options: EncoderOptions) -> str:
        supported = [f.name for f in av.codec.Codec(options.codec, "w").video_formats or ()]
        odd = self.info.width % 2 or self.info.height % 2
        if options.pix_fmt:
            if options.pix_fmt not in supported:
                raise DerainError(f"{options.codec} cannot encode pixel format {options.pix_fmt}; it takes {', '.join(supported)}")
            if odd and _subsampled(options.pix_fmt):
                raise DerainError(
                    f"odd frame size {self.info.width}x{self.info.height} cannot be stored as {options.pix_fmt}: "
                    "choose a pixel format without chroma subsampling, e.g. yuv444p"
                )
            return options.pix_fmt
        if not odd:
            return "yuv420p"
        if "yuv444p" not in supported:
            raise DerainError(
                f"{options.codec} cannot encode the odd frame size {self.info.width}x{self.info.height}; "
                "use libx264, libx265 or libvpx-vp9"
            )
        # 4:2:0 needs even sizes; 4:4:4 keeps every pixel instead of cropping one away
        self.warnings.append(f"odd size {self.info.width}x{self.info.height}: encoded as yuv444p")
        return "yuv444p"

    def _add_video_stream(self, options: EncoderOptions) -> av.video.stream.VideoStream:
        info = self.info
        stream = self.container.add_stream(options.codec, rate=info.frame_rate)
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = self.pix_fmt
        # the source's time base, so every timestamp is carried over exactly (VFR included)
        stream.time_base = info.time_base
        context = stream.codec_context
        context.time_base = info.time_base
        if info.frame_rate:
            context.framerate = info.frame_rate
        if info.sample_aspect_ratio:
            context.sample_aspect_ratio = info.sample_aspect_ratio
        context.color_range = info.color_range
        context.color_primaries = info.color_primaries
        context.color_trc = info.color_trc
        if info.colorspace != RGB_COLORSPACE:
            context.colorspace = info.colorspace
        if info.display_matrix:
            stream.set_display_matrix(list(info.display_matrix))
        return stream

    def _start(self, options: EncoderOptions) -> None:
        encoder = ENCODERS[options.codec]
        settings = dict(encoder.extra)
        settings[encoder.preset_option] = options.preset or encoder.default_preset
        if options.bitrate is not None:
            self.stream.codec_context.bit_rate = parse_bitrate(options.bitrate)
        else:
            settings[encoder.quality_option] = str(options.crf if options.crf is not None else encoder.default_quality)
        self.stream.codec_context.options = settings
        try:
            self.container.start_encoding()
        except av.FFmpegError as error:
            gpu = " (it needs an NVIDIA GPU and driver)" if encoder.gpu else ""
            raise DerainError(
                f"encoder {options.codec} could not start for {self.info.width}x{self.info.height} "
                f"{self.pix_fmt}{gpu}: {getattr(error, 'strerror', None) or error}"
            ) from None

    @property
    def yuv420_format(self) -> Yuv420Format | None:
        """How to convert frames to this output's yuv420p before `write_frame` (None: give RGB)."""
        if self.pix_fmt != "yuv420p":
            return None
        return Yuv420Format.for_output(self.info.colorspace, self.info.color_range)

    def write_frame(self, image: np.ndarray, pts: int, duration: int | None = None) -> None:
        """Encode one frame at `pts` (source time base): (H, W, 3) uint8 RGB, or, where
        `yuv420_format` is not None, (H * 3 // 2, W) uint8 yuv420p converted to that format."""
        info = self.info
        if image.ndim == 2:
            if self.yuv420_format is None or image.shape != (info.height * 3 // 2, info.width):
                raise ValueError(f"planes of shape {image.shape} do not fit this {self.pix_fmt} output")
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            frame.colorspace, frame.color_range = info.colorspace, info.color_range
        else:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                format=self.pix_fmt,
                dst_colorspace=info.colorspace if info.colorspace != RGB_COLORSPACE else None,
                dst_color_range=info.color_range or None,
            )
        frame.pts = pts
        frame.time_base = info.time_base
        if duration:
            frame.duration = duration
        self.container.mux(self.stream.encode(frame))

    def write_packet(self, packet: av.Packet) -> None:
        """Copy a passthrough packet into its stream; the muxer interleaves by time."""
        packet.stream = self._copies[packet.stream_index]
        try:
            self.container.mux_one(packet)
        except av.FFmpegError:
            # e.g. a non-monotonic timestamp in a damaged source: FFmpeg drops it too
            self.dropped_packets += 1

    def close(self) -> None:
        """Flush the encoder and write the trailer."""
        self.container.mux(self.stream.encode(None))
        self.container.close()

    def finish_partial(self) -> None:
        """Close an interrupted file properly, so the partial that is kept still plays."""
        try:
            self.close()
        except Exception:  # the original failure matters more than this one
            self.abort()

    def abort(self) -> None:
        """Close without flushing: the file is unfinished and its caller will discard it."""
        try:
            self.container.close()
        except av.FFmpegError:
            pass


def _subsampled(pix_fmt: str) -> bool:
    components = av.VideoFormat(pix_fmt, 2, 2).components
    return any(c.width < 2 or c.height < 2 for c in components)
