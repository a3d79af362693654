"""Where live frames go: a recording, a network stream, an OpenCV window. Any combination.

Each sink takes RGB uint8 frames with the time each is to be shown (time.monotonic() seconds,
see live_source.ShowTimes); the recording and the stream turn those into timestamps, so they
play at real speed whatever frames were dropped on the way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import av
import cv2
import numpy as np

from ..errors import DerainError
from ..safe_output import atomic_output
from .live_source import loopback_default
from .reader import VideoInfo
from .writer import EncoderOptions, VideoWriter

MILLISECONDS = Fraction(1, 1000)
UNSPECIFIED = 2  # FFmpeg's value for "unspecified" colour primaries, transfer and matrix
RECORD_ENCODER = EncoderOptions(codec="libx264", preset="veryfast")
STREAM_FORMATS = {"udp": "mpegts", "tcp": "mpegts", "srt": "mpegts", "rtsp": "rtsp"}


class _Clock:
    """Show times -> strictly increasing integer timestamps from the first frame's time."""

    def __init__(self, ticks_per_second: int) -> None:
        self.rate = ticks_per_second
        self._origin: float | None = None
        self._last = -1

    def pts(self, shown: float) -> int:
        if self._origin is None:
            self._origin = shown
        pts = max(round((shown - self._origin) * self.rate), self._last + 1)
        self._last = pts
        return pts


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A source that reconnects at another resolution must not break a file of fixed size."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


class Recorder:
    """--record OUT: the derained frames, written as `derain video` writes (a temporary name,
    renamed when complete). Used as a context manager; leaving it normally, Ctrl-C included
    when the caller catches it, finishes a valid file."""

    def __init__(self, output: Path | str, *, keep_partial: bool = False, encoder: EncoderOptions = RECORD_ENCODER) -> None:
        encoder.validate()
        self.output = Path(output)
        self.encoder = encoder
        self.keep_partial = keep_partial
        self.frames = 0
        self.warnings: list[str] = []
        self._atomic = atomic_output(self.output, keep_partial)
        self._temporary: Path | None = None
        self._writer: VideoWriter | None = None
        self._clock = _Clock(1000)

    def __enter__(self) -> Recorder:
        self._temporary = self._atomic.__enter__()
        return self

    def write(self, image: np.ndarray, shown: float) -> None:
        if self._writer is None:
            height, width = image.shape[:2]
            info = VideoInfo(
                width, height, MILLISECONDS, None, "rawvideo", "rgb24", 0, None,
                0, UNSPECIFIED, UNSPECIFIED, UNSPECIFIED, None,
            )
            self._writer = VideoWriter(self._temporary, info, self.encoder)
            self.warnings.extend(self._writer.warnings)
        writer = self._writer
        writer.write_frame(_fit(image, (writer.info.height, writer.info.width)), self._clock.pts(shown))
        self.frames += 1

    def __exit__(self, kind, error, traceback) -> bool | None:
        if self._writer is not None:
            if kind is None:
                self._writer.close()
            elif self.keep_partial:
                self._writer.finish_partial()
            else:
                self._writer.abort()
        return self._atomic.__exit__(kind, error, traceback)


class NetworkStream:
    """--stream URL: H.264 in MPEG-TS over UDP, TCP or SRT, or pushed to an RTSP server.

    The encoder is tuned for latency (x264 ultrafast, zerolatency, no B-frames, a key frame
    every `gop` frames so a receiver can join quickly). The connection is made here, so a bad
    URL fails before the run; the video stream is added at the first frame, whose size it takes.
    A write that fails (the peer went away) stops the stream, not the run: see `failed`.
    """

    def __init__(self, url: str, *, gop: int = 15, log: Callable[[str], None] | None = None) -> None:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in STREAM_FORMATS:
            raise DerainError(f"--stream takes {', '.join(f'{s}://' for s in STREAM_FORMATS)} URLs, not {url!r}")
        self.url = loopback_default(url) if scheme != "udp" else _udp_output(loopback_default(url))
        self.gop = gop
        self.log = log or (lambda message: None)
        self.failed: str | None = None
        self.frames = 0
        self._stream: av.video.stream.VideoStream | None = None
        self._clock = _Clock(90_000)  # MPEG-TS ticks
        options = {"rtsp_transport": "tcp"} if scheme == "rtsp" else {}
        try:
            self.container = av.open(self.url, "w", format=STREAM_FORMATS[scheme], options=options)
        except (av.FFmpegError, OSError, ValueError) as error:
            if isinstance(error, av.ProtocolNotFoundError):
                raise DerainError(f"this PyAV/FFmpeg build has no {scheme}:// protocol") from None
            raise DerainError(f"cannot open --stream {url}: {getattr(error, 'strerror', None) or error}") from None

    def write(self, image: np.ndarray, shown: float) -> None:
        if self.failed:
            return
        try:
            if self._stream is None:
                self._stream = self._add_stream(image.shape[1] + image.shape[1] % 2, image.shape[0] + image.shape[0] % 2)
            stream = self._stream
            frame = av.VideoFrame.from_ndarray(_fit(_even(image), (stream.height, stream.width)), format="rgb24")
            frame.pts = self._clock.pts(shown)
            frame.time_base = Fraction(1, 90_000)
            self.container.mux(stream.encode(frame.reformat(format="yuv420p")))
            self.frames += 1
        except (av.FFmpegError, OSError) as error:
            self.failed = f"--stream {self.url} stopped: {getattr(error, 'strerror', None) or error}"
            self.log(self.failed)

    def _add_stream(self, width: int, height: int) -> av.video.stream.VideoStream:
        stream = self.container.add_stream("libx264")
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 90_000)
        stream.codec_context.options = {
            "preset": "ultrafast", "tune": "zerolatency", "g": str(self.gop), "bf": "0", "crf": "23",
        }
        return stream

    def __enter__(self) -> NetworkStream:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self._stream is not None and not self.failed:
                self.container.mux(self._stream.encode(None))
            self.container.close()
        except (av.FFmpegError, OSError):
            pass  # the receiver left while we closed: nothing is lost that it could still get


def _udp_output(url: str) -> str:
    """MPEG-TS over UDP in 7 TS packets per datagram, as receivers expect (no IP fragments)."""
    parts = urlsplit(url)
    if "pkt_size=" in parts.query:
        return url
    return parts._replace(query=f"{parts.query}&pkt_size=1316" if parts.query else "pkt_size=1316").geturl()


def _even(image: np.ndarray) -> np.ndarray:
    """4:2:0 needs even sizes: repeat the last row or column rather than crop a pixel away."""
    height, width = image.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return image
    return np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def compose_view(
    original: np.ndarray,
    derained: np.ndarray,
    mask: np.ndarray | None,
    side_by_side: bool,
    lines: Sequence[str],
) -> np.ndarray:
    """The window's picture (BGR): derained, or original | derained; the attention map tinted
    red on the derained half when `mask` (H, W) in [0, 1] is given; `lines` of text on top."""
    view = derained
    if mask is not None:
        alpha = np.clip(mask, 0.0, 1.0)[..., None] * 0.6
        view = (derained * (1 - alpha) + np.array([255, 0, 0]) * alpha).astype(np.uint8)
    if side_by_side:
        view = np.concatenate([original, view], axis=1)
    view = cv2.cvtColor(view, cv2.COLOR_RGB2BGR)
    scale = max(0.35, view.shape[0] / 900)
    for row, text in enumerate(lines):
        origin = (6, int(18 * scale / 0.5 * (row + 1)))
        cv2.putText(view, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(view, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return view


class ViewState:
    """What the window's keys toggle. q (or Esc) quits, s shows original|derained side by side,
    m overlays the attention map, space freezes the picture (capture, inference and recording
    go on: pausing the view must not lose footage)."""

    KEYS = "q quit  s side-by-side  m mask  space pause"

    def __init__(self) -> None:
        self.side_by_side = False
        self.show_mask = False
        self.paused = False
        self.quit = False

    def handle_key(self, key: int) -> None:
        key &= 0xFF  # waitKey's -1 (no key) becomes 255, which is no key of ours
        if key in (ord("q"), 27):
            self.quit = True
        elif key == ord("s"):
            self.side_by_side = not self.side_by_side
        elif key == ord("m"):
            self.show_mask = not self.show_mask
        elif key == ord(" "):
            self.paused = not self.paused


class Window:
    """An OpenCV window showing the derained stream, with the stats on top; see ViewState."""

    def __init__(self, title: str = "derain live") -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise DerainError("no display here: use --no-display (with --record or --stream)")
        self.title = title
        self.view = ViewState()
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise DerainError("this OpenCV has no window support (opencv-python-headless?): use --no-display") from None

    def show(self, original: np.ndarray, derained: np.ndarray, mask: np.ndarray | None, lines: Sequence[str]) -> None:
        if not self.view.paused:
            picture = compose_view(original, derained, mask, self.view.side_by_side, [*lines, ViewState.KEYS])
            cv2.imshow(self.title, picture)
        self.poll()

    def poll(self) -> None:
        """Handle keys and a closed window; also called while no frame comes, to stay responsive."""
        self.view.handle_key(cv2.waitKey(1))
        try:
            if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                self.view.quit = True
        except cv2.error:
            self.view.quit = True

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc_info) -> None:
        cv2.destroyWindow(self.title)
