"""`derain live`: derain a webcam or network stream in real time, into a window, a recording
and/or a network stream.

One loop: take the newest captured frame, run the model on it (batch 1, attention reused
between frames), hand the result to the sinks. Capture runs in its own thread and drops stale
frames, so when inference is slower than the source the latency stays bounded. Ctrl-C and
SIGTERM end the loop between frames, so the recording is always closed as a valid file.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .backends.base import Runner
from .backends.select import select_runner
from .checkpoint import LoadedModel, load_model
from .errors import DerainError
from .live_stats import LatencyHistogram, LiveSnapshot, LiveStats
from .pipeline import derain_batch
from .safe_output import check_output_path
from .temporal import DEFAULT_POLICY, parse_policy
from .tiling import fit_runner
from .video.live_sinks import NetworkStream, Recorder, Window
from .video.live_source import LiveSource, parse_source

SCENE_CUT = 0.25  # mean absolute change of a 32x32 grey thumbnail, in [0, 1], that resets attention


@dataclass
class LiveSummary:
    """What `derain live` reports at exit, and prints with --json."""

    source: str
    stopped: str  # why the run ended: end of stream, max frames, duration, quit, interrupted...
    seconds: float
    frames_in: int  # captured for the run: frames_out + dropped
    frames_out: int  # derained and handed to the sinks
    dropped: int  # captured but replaced by a newer frame before inference could take them
    bad_frames: int  # undecodable, skipped
    reconnects: int
    scene_cuts: int
    fps_in: float
    fps_out: float
    latency_ms: dict[str, float]  # capture to output: p50, p95, max
    inference_ms: dict[str, float]  # the model's share of it, per frame: p50, p95, max
    latency_p95_ms_per_period: list[float]  # one value per `period_s` of the run, oldest first
    period_s: float
    width: int
    height: int
    model: str
    trained: bool
    backend: str
    device: str
    policy: str
    record: str | None
    stream: str | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        latency = self.latency_ms
        outputs = [p for p in (self.record, self.stream) if p]
        return (
            f"{self.frames_out} frames in {self.seconds:.1f} s ({self.fps_in:.1f} fps in, {self.fps_out:.1f} fps out), "
            f"dropped {self.dropped}, bad {self.bad_frames}, reconnects {self.reconnects}, "
            f"latency p50 {latency['p50']:.0f} / p95 {latency['p95']:.0f} / max {latency['max']:.0f} ms, "
            f"backend {self.backend}, reuse {self.policy}, stopped: {self.stopped}"
            + (f" -> {', '.join(outputs)}" if outputs else "")
        )


class _StopRequest:
    """Ctrl-C and SIGTERM set a flag the loop checks between frames, so no frame is half
    written; a second signal interrupts at once, for a run that is stuck."""

    def __init__(self) -> None:
        self.signal: str | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handle(signum, frame) -> None:
            if self.signal:
                raise KeyboardInterrupt
            self.signal = signal.Signals(signum).name

        for sig in previous:
            signal.signal(sig, handle)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _SceneCuts:
    """Tells when the picture changed so much that the old attention map is no use."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.count = 0
        self._last: np.ndarray | None = None

    def __call__(self, image: np.ndarray) -> bool:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        thumb = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        cut = self._last is not None and float(np.abs(thumb - self._last).mean()) > self.threshold
        self._last = thumb
        self.count += cut
        return cut


def derain_live(
    source: str,
    *,
    model: str | Path | LoadedModel = "lite",
    backend: str = "auto",
    device: str = "auto",
    reuse: str = DEFAULT_POLICY,
    record: Path | str | None = None,
    stream: str | None = None,
    display: bool = True,
    max_frames: int | None = None,
    duration: float | None = None,
    reconnect: bool | None = None,
    realtime: bool = False,
    loop: bool = False,
    stall_timeout: float = 5.0,
    scene_cut: float = SCENE_CUT,
    overwrite: bool = False,
    keep_partial: bool = False,
    tile: int | str | None = None,
    runner: Runner | None = None,
    log: Callable[[str], None] | None = None,
    on_stats: Callable[[LiveSnapshot], None] | None = None,
) -> LiveSummary:
    """Derain SOURCE live until it ends, `max_frames` are out, `duration` seconds pass, the
    window's q, or Ctrl-C/SIGTERM (all of which end the run normally, recording finished).

    SOURCE: a webcam index or /dev/videoN, a URL, `lavfi:GRAPH`, or a file (`realtime` plays it
    at its frame rate, `loop` restarts it). `reconnect` (None: on for network sources) reopens
    a lost source with backoff. `tile` ("auto" or a size) runs frames too big for the device in
    blended tiles; without it they are refused. `log` hears about losses and reconnects;
    `on_stats` gets a snapshot about once a second. Raises DerainError for anything the user
    can fix.
    """
    spec = parse_source(source)
    if record is not None:
        check_output_path(Path(record), overwrite=overwrite)
    if max_frames is not None and max_frames < 1:
        raise DerainError("--max-frames must be at least 1")
    if duration is not None and duration <= 0:
        raise DerainError("--duration must be positive")
    policy = parse_policy(reuse)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    runner = runner or select_runner(loaded.generator, backend, device, report=log)
    log = log or (lambda message: None)
    stop = _StopRequest()
    cuts = _SceneCuts(scene_cut)
    stats = LiveStats()
    inference = LatencyHistogram()
    warnings: list[str] = []
    size = (0, 0)
    fitted: dict[tuple[int, int], Runner] = {}
    epoch = 0
    with contextlib.ExitStack() as stack:
        recorder = stack.enter_context(Recorder(record, keep_partial=keep_partial)) if record is not None else None
        streamer = stack.enter_context(NetworkStream(stream, log=log)) if stream else None
        window = stack.enter_context(Window()) if display else None
        live = LiveSource(spec, realtime=realtime, loop=loop, reconnect=reconnect, stall_timeout=stall_timeout, log=log)
        stack.enter_context(stop.installed())
        stack.callback(live.close)
        live.start()
        started = last_report = time.monotonic()
        stopped = ""
        with torch.inference_mode():
            while not stopped:
                now = time.monotonic()
                if on_stats and now - last_report >= 1.0:
                    on_stats(stats.snapshot(live.frames_in, live.dropped, live.fps_in(), now))
                    last_report = now
                frame = live.take(timeout=0.05)
                if frame is None:
                    if window:
                        window.poll()
                    stopped = _stop_reason(stop, window, live, started, duration)
                    continue
                cut = cuts(frame.image)  # before the epoch test, so the thumbnail stays current
                if frame.epoch != epoch or cut:
                    policy.reset()  # a new connection or a new scene: the drops' map is stale
                    epoch = frame.epoch
                inferring = time.monotonic()
                shape = frame.image.shape[:2]
                if shape not in fitted:  # the first frame, or a source that came back at another size
                    fitted[shape] = fit_runner(runner, *shape, tile=tile)
                frames, mask = derain_batch(frame.image, fitted[shape], policy)
                derained = frames[0]
                inference.add(time.monotonic() - inferring)
                size = shape
                if recorder:
                    recorder.write(derained, frame.shown)
                if streamer:
                    streamer.write(derained, frame.shown)
                if window:
                    snapshot = stats.snapshot(live.frames_in, live.dropped, live.fps_in())
                    window.show(frame.image, derained, _host_mask(loaded.visible_mask(mask)) if window.view.show_mask else None, [snapshot.line()])
                stats.output(frame.captured)
                stopped = _stop_reason(stop, window, live, started, duration)
                if max_frames is not None and stats.frames_out >= max_frames:
                    stopped = stopped or "max frames"
        if stats.frames_out == 0 and live.failure:
            raise DerainError(f"cannot read {source}: {live.failure}")
        seconds = time.monotonic() - started
    if streamer and streamer.failed:
        warnings.append(streamer.failed)
    if recorder:
        warnings.extend(recorder.warnings)
    return LiveSummary(
        source=source,
        stopped=stopped,
        seconds=round(seconds, 3),
        frames_in=live.frames_in,
        frames_out=stats.frames_out,
        dropped=live.dropped,
        bad_frames=live.bad_frames,
        reconnects=live.reconnects,
        scene_cuts=cuts.count,
        fps_in=round(live.frames_in / seconds, 2) if seconds > 0 else 0.0,
        fps_out=round(stats.frames_out / seconds, 2) if seconds > 0 else 0.0,
        latency_ms=stats.latency.summary_ms(),
        inference_ms=inference.summary_ms(),
        latency_p95_ms_per_period=stats.period_p95s(),
        period_s=stats.period,
        width=size[1],
        height=size[0],
        model=loaded.source,
        trained=loaded.trained,
        backend=fitted.get(size, runner).name,
        device=str(runner.device),
        policy=policy.spec,
        record=str(record) if record is not None else None,
        stream=stream,
        warnings=warnings,
    )


def _stop_reason(stop: _StopRequest, window: Window | None, live: LiveSource, started: float, duration: float | None) -> str:
    """Why the run should end now, or "" to go on."""
    if stop.signal:
        return "interrupted" if stop.signal == "SIGINT" else stop.signal
    if window and window.view.quit:
        return "quit"
    if duration is not None and time.monotonic() - started >= duration:
        return "duration"
    if live.finished:
        return live.ended or "end of stream"
    return ""


def _host_mask(mask: torch.Tensor) -> np.ndarray:
    return mask[0, 0].cpu().numpy()
