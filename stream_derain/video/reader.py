"""Decode a video into RGB uint8 frames with their timestamps; hand audio/subtitle packets on untouched."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType

from ..errors import DerainError

RGB_COLORSPACE = 0  # AVCOL_SPC_RGB: the frame is not YUV, so its matrix must not be copied


@dataclass(frozen=True)
class VideoInfo:
    """What an encoder needs to write frames that match the source."""

    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction | None
    codec: str
    pix_fmt: str
    frames: int  # an estimate from the container; 0 when it doesn't say
    display_matrix: tuple[int, ...] | None  # rotation/flip side data, 9 ints as FFmpeg stores it
    color_range: int
    colorspace: int
    color_primaries: int
    color_trc: int
    sample_aspect_ratio: Fraction | None


@dataclass(frozen=True)
class DecodedFrame:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    pts: int  # in VideoInfo.time_base units
    duration: int | None
    index: int


class VideoReader:
    """Iterate a file's video frames (as DecodedFrame) and passthrough packets, in demux order.

    Decoding is threaded. A packet the decoder rejects is skipped and counted, as FFmpeg does.
    """

    def __init__(self, path: Path | str, passthrough: bool = True) -> None:
        self.path = Path(path)
        self.skipped_packets = 0
        self.warnings: list[str] = []
        try:
            self.container = av.open(str(self.path), "r")
        except FileNotFoundError:
            raise DerainError(f"input {self.path} not found") from None
        except (av.FFmpegError, OSError, ValueError) as error:
            raise DerainError(f"cannot read {self.path}: {_reason(error)}") from None
        try:
            self.stream = self._video_stream()
            self.passthrough_streams = self._passthrough_streams() if passthrough else []
            self._demuxed = self._demux()
            self._pending: deque = deque()
            self._index = 0
            self._last_pts: int | None = None
            self.info = self._probe()
        except BaseException:
            self.container.close()
            raise

    def _video_stream(self) -> av.video.stream.VideoStream:
        videos = [s for s in self.container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not videos:
            raise DerainError(f"{self.path} has no video stream")
        stream = videos[0]
        if stream.codec_context is None:
            raise DerainError(f"{self.path}: unknown video codec, this FFmpeg build cannot decode it")
        stream.codec_context.thread_type = "AUTO"
        for other in videos[1:]:
            self.warnings.append(f"video stream #{other.index} ignored (only the first is derained)")
        return stream

    def _passthrough_streams(self) -> list[av.stream.Stream]:
        kept = []
        for stream in self.container.streams:
            if stream.type not in ("audio", "subtitle"):
                continue
            if stream.codec_context is None:
                self.warnings.append(f"{stream.type} stream #{stream.index} dropped: unknown codec")
                continue
            kept.append(stream)
        return kept

    def _demux(self) -> Iterator[av.VideoFrame | av.Packet]:
        """Raw decoded video frames and passthrough packets, in the order the file holds them."""
        wanted = {s.index for s in self.passthrough_streams}
        packets = self.container.demux(self.stream, *self.passthrough_streams)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as error:
                # FFmpeg ends the input on a read error; say so instead of failing the whole job
                self.warnings.append(f"input ended early: {_reason(error)}")
                yield from self._decode(None)
                return
            if packet.stream.index == self.stream.index:
                yield from self._decode(packet)
            elif packet.stream.index in wanted and packet.size:
                yield packet

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            return self.stream.decode(packet)
        except av.FFmpegError:
            self.skipped_packets += 1
            return []

    def _probe(self) -> VideoInfo:
        """Decode up to the first frame (keeping what came before) to learn its real properties."""
        for item in self._demuxed:
            self._pending.append(item)
            if isinstance(item, av.VideoFrame):
                break
        else:
            raise DerainError(f"{self.path}: no video frame could be decoded")
        frame = self._pending[-1]
        stream = self.stream
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            width=frame.width,
            height=frame.height,
            time_base=stream.time_base,
            frame_rate=rate,
            codec=stream.codec_context.name,
            pix_fmt=frame.format.name,
            frames=self._estimate_frames(rate),
            display_matrix=_display_matrix(frame),
            color_range=int(frame.color_range),
            colorspace=int(frame.colorspace),
            color_primaries=int(frame.color_primaries),
            color_trc=int(frame.color_trc),
            sample_aspect_ratio=stream.sample_aspect_ratio,
        )

    def _estimate_frames(self, rate: Fraction | None) -> int:
        if self.stream.frames:
            return self.stream.frames
        if rate and self.stream.duration and self.stream.time_base:
            return round(self.stream.duration * self.stream.time_base * rate)
        if rate and self.container.duration:
            return round(self.container.duration / av.time_base * rate)
        return 0

    def __iter__(self) -> Iterator[DecodedFrame | av.Packet]:
        while True:
            item = self._pending.popleft() if self._pending else next(self._demuxed, None)
            if item is None:
                self._check_complete()
                return
            yield self._convert(item) if isinstance(item, av.VideoFrame) else item

    def _check_complete(self) -> None:
        # FFmpeg ends a file cut short without an error; its own index (MP4, MOV) still says how
        # many frames it should hold, and an output that silently ends early must not look whole
        indexed = self.stream.frames
        if indexed and self._index < indexed:
            self.warnings.append(
                f"input ended early: {self._index} of {indexed} frames decoded (the file is truncated or damaged)"
            )

    def _convert(self, frame: av.VideoFrame) -> DecodedFrame:
        # a stream that changes size midway is scaled back to its first size, as FFmpeg does
        image = frame.to_ndarray(
            format="rgb24", width=self.info.width, height=self.info.height, src_color_range=frame.color_range or None
        )
        duration = frame.duration or None
        pts = frame.pts
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            # a stream without timestamps (raw .h264) or a broken one: keep frames in order
            if pts is not None and "timestamps repaired" not in self.warnings:
                self.warnings.append("timestamps repaired")
            pts = 0 if self._last_pts is None else self._last_pts + (duration or self._default_duration())
        self._last_pts = pts
        self._index += 1
        return DecodedFrame(image, pts, duration, self._index - 1)

    def _default_duration(self) -> int:
        rate = self.info.frame_rate
        return max(1, round(1 / (rate * self.info.time_base))) if rate else 1

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    for side_data in frame.side_data:
        if side_data.type == SideDataType.DISPLAYMATRIX:
            return tuple(int(v) for v in np.frombuffer(bytes(side_data), dtype=np.int32))
    return None


def _reason(error: BaseException) -> str:
    """FFmpeg's own words, without the errno and path PyAV adds."""
    text = getattr(error, "strerror", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
