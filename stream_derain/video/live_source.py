"""Live sources: webcams, network streams, lavfi graphs and files, captured in their own thread.

The capture thread always keeps only the newest frame. When the consumer is slower than the
source, a frame that is replaced before it was taken is dropped and counted, so latency stays
bounded instead of growing with a queue. A source that stalls or disconnects is reopened with
backoff when `reconnect` is on.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import av
import cv2
import numpy as np

from ..errors import DerainError
from ..live_stats import RateMeter

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "udp", "tcp", "http", "https", "srt", "rtp")
LAVFI_PREFIX = "lavfi:"
_BACKOFF_START_S = 0.25
_BACKOFF_MAX_S = 4.0
_ANALYZE_S = 1.0  # how long FFmpeg may read a network stream to learn its codec on open
_MAX_PTS_STEP_S = 1.0  # a longer or backward step between timestamps is a jump: a loop, a wrap, a restart


@dataclass(frozen=True)
class SourceSpec:
    """What to open. kind: device (a webcam), network (a URL), lavfi (a filter graph) or file."""

    kind: str
    target: str  # a device index or path, a URL, a filter graph, or a file path
    label: str  # the SOURCE as the user wrote it

    @property
    def is_network(self) -> bool:
        return self.kind == "network"


def parse_source(text: str) -> SourceSpec:
    """`0` or `/dev/video0`; a URL (rtsp, udp, tcp, http(s), srt...); `lavfi:GRAPH`; or a file.

    A network URL without a host gets 127.0.0.1, and a UDP source listens on its URL's host
    (127.0.0.1 unless given), so nothing listens beyond loopback unless asked to.
    """
    text = text.strip()
    if text.isdigit() or text.startswith("/dev/video"):
        return SourceSpec("device", text, text)
    if text.startswith(LAVFI_PREFIX):
        graph = text[len(LAVFI_PREFIX):]
        if not graph:
            raise DerainError("lavfi: needs a filter graph, e.g. lavfi:testsrc2=size=640x480:rate=30")
        return SourceSpec("lavfi", graph, text)
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme in NETWORK_SCHEMES:
        return SourceSpec("network", listen_on_host(loopback_default(text)), text)
    if scheme:
        raise DerainError(f"unsupported source scheme {scheme}://; use one of {', '.join(NETWORK_SCHEMES)}")
    if not Path(text).is_file():
        raise DerainError(
            f"source {text} not found: give a webcam index (0), /dev/videoN, a URL "
            "(rtsp://, udp://, tcp://, http(s)://, srt://), lavfi:GRAPH or a video file"
        )
    return SourceSpec("file", text, text)


def loopback_default(url: str) -> str:
    """A network URL without a host (`udp://:5000`, `tcp://:9000?listen=1`) gets 127.0.0.1."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise DerainError(f"bad port in {url}") from None
    if parts.hostname:
        return url
    return parts._replace(netloc=f"127.0.0.1:{port}" if port else "127.0.0.1").geturl()


def listen_on_host(url: str) -> str:
    """A UDP source listens on its URL's host: FFmpeg binds UDP input to all interfaces otherwise."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "udp" or "localaddr" in dict(parse_qsl(parts.query)):
        return url
    if _is_multicast(parts.hostname or ""):
        return url
    query = f"{parts.query}&localaddr={parts.hostname}" if parts.query else f"localaddr={parts.hostname}"
    return parts._replace(query=query).geturl()


def _is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


@dataclass(frozen=True)
class LiveFrame:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    captured: float  # time.monotonic() when the frame left the decoder
    shown: float  # when it is to be shown, on the same clock: see ShowTimes
    index: int  # position in the source, counting every captured frame
    epoch: int  # bumped on every reconnect: the picture before it is unrelated


class ShowTimes:
    """When each captured frame is to be shown, on the capture clock (time.monotonic()).

    Where the source's own timestamps step forward smoothly they set the spacing, so frames
    that arrive together (a network buffer emptying after the stream was probed, a file read
    faster than real time) keep their spacing in a recording. Where there are none (a webcam
    through OpenCV), or they jump, or the source reconnected, the capture time takes over.
    Show times never go backwards.
    """

    def __init__(self) -> None:
        self._last: tuple[float | None, float, int] | None = None  # (pts, shown, epoch)
        self._step = 0.0

    def __call__(self, pts: float | None, captured: float, epoch: int) -> float:
        last = self._last
        if last is None:
            shown = captured
        elif pts is not None and last[0] is not None and last[2] == epoch and 0 < pts - last[0] <= _MAX_PTS_STEP_S:
            self._step = pts - last[0]
            shown = last[1] + self._step
        else:
            shown = max(captured, last[1] + self._step)
        self._last = (pts, shown, epoch)
        return shown


class SourceLost(Exception):
    """The source could not be opened, stalled or disconnected; the text says why."""


class LatestFrame:
    """A one-slot mailbox: `put` replaces an untaken frame (counting it dropped).

    With `lossless`, `put` waits for the slot to empty instead: a file played as fast as the
    consumer goes, without losing frames. `accepted` counts the frames put; a frame still
    untaken at `close` is `discarded`, so accepted - discarded = taken + dropped, exactly.
    """

    def __init__(self, lossless: bool = False) -> None:
        self.lossless = lossless
        self.accepted = 0
        self.dropped = 0
        self.discarded = 0
        self._frame: LiveFrame | None = None
        self._closed = False
        self._changed = threading.Condition()

    def put(self, frame: LiveFrame) -> None:
        with self._changed:
            while self.lossless and self._frame is not None and not self._closed:
                self._changed.wait(0.1)
            if self._closed:
                return
            if self._frame is not None:
                self.dropped += 1
            self.accepted += 1
            self._frame = frame
            self._changed.notify_all()

    def take(self, timeout: float) -> LiveFrame | None:
        with self._changed:
            if self._frame is None:
                self._changed.wait(timeout)
            frame, self._frame = self._frame, None
            self._changed.notify_all()
            return frame

    @property
    def empty(self) -> bool:
        return self._frame is None

    def close(self) -> None:
        with self._changed:
            self._closed = True
            if self._frame is not None:
                self.discarded += 1
                self._frame = None
            self._changed.notify_all()


class LiveSource:
    """Captures SOURCE in a thread into a LatestFrame; `take()` gets the newest frame.

    `realtime` paces a file at its own frame rate (lavfi graphs are always paced); without it a
    file goes as fast as the consumer takes frames, none dropped. `loop` restarts a file at its
    end. `reconnect` reopens a lost source with backoff (None: on for network sources).
    `stall_timeout` is how long a network read may wait before the source counts as stalled.
    `log` hears about losses and reconnects (from the capture thread).
    """

    def __init__(
        self,
        spec: SourceSpec,
        *,
        realtime: bool = False,
        loop: bool = False,
        reconnect: bool | None = None,
        stall_timeout: float = 5.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.paced = spec.kind == "lavfi" or (spec.kind == "file" and realtime)
        self.loop = loop and spec.kind == "file"
        self.reconnect = spec.is_network if reconnect is None else reconnect
        self.stall_timeout = stall_timeout
        self.log = log or (lambda message: None)
        self.slot = LatestFrame(lossless=spec.kind == "file" and not realtime)
        self.bad_frames = 0
        self.reconnects = 0
        self.ended: str | None = None  # why capture stopped, once it has
        self.failure: str | None = None  # set when the source never delivered a frame
        self._rate_in = RateMeter()
        self._rate_lock = threading.Lock()  # the capture thread ticks the meter the consumer reads
        self._epoch = 0
        self._show_times = ShowTimes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._capture, name="derain-live-capture", daemon=True)

    @property
    def frames_in(self) -> int:
        """Frames captured for the run: after close, exactly those derained plus those dropped."""
        return self.slot.accepted - self.slot.discarded

    @property
    def dropped(self) -> int:
        return self.slot.dropped

    def fps_in(self) -> float:
        with self._rate_lock:
            return self._rate_in.rate(time.monotonic())

    def start(self) -> LiveSource:
        self._thread.start()
        return self

    def take(self, timeout: float = 0.1) -> LiveFrame | None:
        """The newest frame, or None if none came within `timeout` (see `ended`)."""
        return self.slot.take(timeout)

    @property
    def finished(self) -> bool:
        """Capture has stopped and every frame it delivered has been taken."""
        return not self._thread.is_alive() and self.slot.empty

    def close(self) -> None:
        self._stop.set()
        self.slot.close()
        # a blocked network read returns within stall_timeout; don't hang the exit on it
        self._thread.join(timeout=self.stall_timeout + 1.0)

    def _capture(self) -> None:
        backoff = _BACKOFF_START_S
        delivered_ever = False
        while not self._stop.is_set():
            delivered = False
            try:
                for image, pts in self._paced(self._open()):
                    if not delivered and delivered_ever:
                        self._epoch += 1
                        self.reconnects += 1
                        self.log(f"source {self.spec.label} is back (reconnect {self.reconnects})")
                    delivered = delivered_ever = True
                    backoff = _BACKOFF_START_S
                    self._deliver(image, pts)
                    if self._stop.is_set():
                        return
                reason = "end of stream"
            except SourceLost as lost:
                reason = str(lost)
            if self._stop.is_set():
                return
            if self.loop and delivered:
                continue
            if not self.reconnect:
                self.ended = reason
                if not delivered_ever:
                    self.failure = reason
                return
            self.log(f"source {self.spec.label}: {reason}; reconnecting in {backoff:g} s")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)
        self.ended = "stopped"

    def _deliver(self, image: np.ndarray, pts: float | None) -> None:
        now = time.monotonic()
        frame = LiveFrame(image, now, self._show_times(pts, now, self._epoch), self.slot.accepted, self._epoch)
        with self._rate_lock:
            self._rate_in.tick(now)
        self.slot.put(frame)

    def _paced(self, frames: Iterator[tuple[np.ndarray, float | None]]) -> Iterator[tuple[np.ndarray, float | None]]:
        """Hold each frame until its presentation time, when the source is to be played in real time."""
        origin: tuple[float, float] | None = None  # (first pts, monotonic time it was shown)
        for image, pts in frames:
            if self.paced and pts is not None:
                now = time.monotonic()
                if origin is None or now - (origin[1] + pts - origin[0]) > 1.0:
                    origin = (pts, now)  # start, or re-anchor after falling far behind
                if self._stop.wait(max(0.0, origin[1] + pts - origin[0] - now)):
                    return
            yield image, pts

    def _open(self) -> Iterator[tuple[np.ndarray, float | None]]:
        if self.spec.kind == "device":
            return _opencv_frames(self.spec.target)
        return self._pyav_frames()

    def _pyav_frames(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """Decoded frames with their presentation time in seconds; SourceLost when it ends badly."""
        spec = self.spec
        kwargs: dict = {}
        if spec.kind == "lavfi":
            kwargs["format"] = "lavfi"
        if spec.is_network:
            analyze = min(_ANALYZE_S, self.stall_timeout)
            kwargs["options"] = {"analyzeduration": str(int(analyze * 1e6))}
            kwargs["timeout"] = (self.stall_timeout + analyze, self.stall_timeout)
        try:
            container = av.open(spec.target, "r", **kwargs)
        except av.ExitError:
            raise SourceLost(f"no stream within {self.stall_timeout:g} s") from None
        except (av.FFmpegError, OSError, ValueError) as error:
            raise SourceLost(f"cannot open: {_reason(error)}") from None
        try:
            if not container.streams.video:
                raise SourceLost("no video stream")
            stream = container.streams.video[0]
            stream.codec_context.thread_type = "AUTO"
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except av.ExitError:
                    raise SourceLost(f"stalled: no data for {self.stall_timeout:g} s") from None
                except (av.FFmpegError, OSError) as error:
                    raise SourceLost(f"disconnected: {_reason(error)}") from None
                yield from self._decode(stream, packet)
        finally:
            container.close()

    def _decode(self, stream: av.video.stream.VideoStream, packet: av.Packet) -> Iterator[tuple[np.ndarray, float | None]]:
        """A corrupt packet or frame is counted and skipped: one bad frame must not end a live run."""
        try:
            frames = stream.decode(packet)
        except av.FFmpegError:
            self.bad_frames += 1
            return
        for frame in frames:
            try:
                image = frame.to_ndarray(format="rgb24")
            except (av.FFmpegError, ValueError):
                self.bad_frames += 1
                continue
            yield image, frame.time


def _opencv_frames(target: str) -> Iterator[tuple[np.ndarray, float | None]]:
    """A webcam through OpenCV: PyAV wheels are built without v4l2/avfoundation/dshow input."""
    device: int | str = int(target) if target.isdigit() else target
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") and str(target).startswith("/dev/") else cv2.CAP_ANY
    capture = cv2.VideoCapture(device, api)
    try:
        if not capture.isOpened():
            raise SourceLost(f"cannot open camera {target}")
        while True:
            ok, bgr = capture.read()
            if not ok or bgr is None:
                raise SourceLost(f"camera {target} stopped delivering frames")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None
    finally:
        capture.release()


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
