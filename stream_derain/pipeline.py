"""Derain a stream of frames: decode -> preprocess -> infer -> encode, as concurrent stages.

Each stage is a thread joined to the next by a bounded queue, so a long video needs no more
memory than a short one and the slowest stage (inference) is never left waiting for I/O.
Inference runs in the calling thread, so Ctrl-C lands there and stops everything cleanly.
This module knows frames and packets, not codecs: any source that yields DecodedFrames and
opaque packets, and any sink with `write_frame`/`write_packet`, will do.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .backends.base import Runner
from .backends.select import select_runner
from .checkpoint import LoadedModel, load_model
from .frames import crop_to, frames_to_tensor, pad_to_multiple, tensor_to_frames
from .safe_output import atomic_output, check_output_path
from .temporal import DEFAULT_POLICY, Policy, parse_policy
from .tiling import fit_runner
from .video import DecodedFrame, EncoderOptions, VideoReader, VideoWriter
from .video.yuv import Yuv420Format, rgb_to_yuv420p

_END = object()  # end-of-stream marker on every queue
STAGES = ("decode", "preprocess", "inference", "postprocess", "encode")


class FrameSink(Protocol):
    def write_frame(self, image: np.ndarray, pts: int, duration: int | None = None) -> None: ...

    def write_packet(self, packet: Any) -> None: ...


@dataclass
class _Batch:
    timing: list[tuple[int, int | None]]  # (pts, duration) of each frame
    packets: list[Any]  # passthrough packets demuxed before this batch's last frame
    x: torch.Tensor | None = None  # padded (B, 3, H, W) on the runner's device
    size: tuple[int, int] = (0, 0)
    images: np.ndarray | None = None  # restored (B, H, W, 3) uint8 RGB, or (B, H * 3 // 2, W) yuv420p


class StageClock:
    """Busy seconds per stage (time waiting on a queue is not counted). Each stage's thread
    writes only its own key, so no lock is needed."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - since
        return now


class _Stopped(Exception):
    """Raised inside a stage when another stage failed or the user interrupted."""


class _Stages:
    """The threads, queues and shared stop flag of one run."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def spawn(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except _Stopped:
                pass
            except BaseException as error:  # handed to the caller's thread, which re-raises it
                self.errors.append(error)
                self.stop.set()

        thread = threading.Thread(target=guarded, name=f"derain-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def put(self, q: queue.Queue, item: Any) -> None:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue) -> Any:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue

    def drain(self, q: queue.Queue) -> Iterator[Any]:
        while (item := self.get(q)) is not _END:
            yield item

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def run_pipeline(
    source: Iterable[Any],
    sink: FrameSink,
    runner: Runner,
    policy: Policy,
    *,
    batch: int = 4,
    on_frames: Callable[[int], None] | None = None,
    clock: StageClock | None = None,
    yuv420: Yuv420Format | None = None,
) -> int:
    """Derain every frame of `source` into `sink`, forwarding its packets; return the frame count.

    `source` yields DecodedFrames and packets (anything else), in stream order;
    `on_frames(n)` is called from the encode stage after each batch, with the total so far;
    `clock`, if given, collects each stage's busy time; `yuv420`, if given, converts frames to
    that yuv420p on the runner's device, and the sink gets planes instead of RGB.
    """
    clock = clock or StageClock()
    if batch < 1:
        raise ValueError("batch must be at least 1")
    stages = _Stages()
    decoded: queue.Queue = queue.Queue(maxsize=4 * batch)
    prepared: queue.Queue = queue.Queue(maxsize=2)
    restored: queue.Queue = queue.Queue(maxsize=2)
    written = 0
    pin = runner.device.type == "cuda"

    def decode() -> None:
        items = iter(source)
        start = time.perf_counter()
        for item in items:
            clock.add("decode", start)
            stages.put(decoded, item)
            start = time.perf_counter()
        stages.put(decoded, _END)

    def preprocess() -> None:
        frames: list[DecodedFrame] = []
        packets: list[Any] = []
        for item in stages.drain(decoded):
            if not isinstance(item, DecodedFrame):
                packets.append(item)
                continue
            frames.append(item)
            if len(frames) == batch:
                start = time.perf_counter()
                ready = _prepare(frames, packets, runner, pin)
                clock.add("preprocess", start)
                stages.put(prepared, ready)
                frames, packets = [], []
        if frames or packets:
            # a short last batch would cost a fixed-shape runner one more compile or capture
            fill = batch if runner.fixed_shapes else 0
            stages.put(prepared, _prepare(frames, packets, runner, pin, fill))
        stages.put(prepared, _END)

    def encode() -> None:
        nonlocal written
        for item in stages.drain(restored):
            start = time.perf_counter()
            for packet in item.packets:
                sink.write_packet(packet)
            for (pts, duration), image in zip(item.timing, item.images if item.images is not None else ()):
                sink.write_frame(image, pts, duration)
            clock.add("encode", start)
            written += len(item.timing)
            if on_frames and item.timing:
                on_frames(written)

    stages.spawn("decode", decode)
    stages.spawn("preprocess", preprocess)
    stages.spawn("encode", encode)
    try:
        with torch.inference_mode():
            for item in stages.drain(prepared):
                if item.x is not None:
                    start = time.perf_counter()
                    restored_batch = runner.restore(item.x, policy.masks(item.x, runner))
                    cropped = crop_to(restored_batch[: len(item.timing)], item.size)  # drop the fill
                    if runner.device.type == "cuda":
                        torch.cuda.synchronize(runner.device)  # charge the kernels to inference
                    start = clock.add("inference", start)
                    if yuv420 is None:
                        item.images = tensor_to_frames(cropped)
                    else:
                        item.images = rgb_to_yuv420p(cropped, yuv420).cpu().numpy()
                    clock.add("postprocess", start)
                    item.x = None
                stages.put(restored, item)
        stages.put(restored, _END)
        for thread in stages.threads:
            while thread.is_alive() and not stages.errors:
                thread.join(timeout=0.1)
    except _Stopped:
        pass
    finally:
        stages.finish()
    if stages.errors:
        raise stages.errors[0]
    return written


def derain_batch(frames: np.ndarray | torch.Tensor, runner: Runner, policy: Policy) -> tuple[np.ndarray, torch.Tensor]:
    """(N, H, W, 3) or (H, W, 3) uint8 frames through the model in one go, for callers without
    stages (live, bench): the derained uint8 frames and their attention maps at frame size."""
    x, size = pad_to_multiple(frames_to_tensor(frames, runner.device, runner.dtype), runner.config.pad_multiple)
    with torch.inference_mode():
        mask = policy.masks(x, runner)
        return tensor_to_frames(crop_to(runner.restore(x, mask), size)), crop_to(mask, size)


def _prepare(frames: list[DecodedFrame], packets: list[Any], runner: Runner, pin: bool, fill: int = 0) -> _Batch:
    """Stack, upload, convert and pad one batch. On CUDA the uint8 data crosses from pinned
    memory without blocking, and becomes float on the device (a quarter of the bytes).
    A batch shorter than `fill` is filled with copies of its last frame, whose outputs the
    inference stage drops."""
    if not frames:
        return _Batch([], packets)
    host = torch.from_numpy(np.stack([f.image for f in frames]))
    if pin:
        host = host.pin_memory()
    x = frames_to_tensor(host, runner.device, runner.dtype)
    x, size = pad_to_multiple(x, runner.config.pad_multiple)
    if fill > len(frames):
        x = torch.cat([x, x[-1:].expand(fill - len(frames), -1, -1, -1)])
    return _Batch([(f.pts, f.duration) for f in frames], packets, x, size)


@dataclass
class VideoSummary:
    """What `derain video` reports at the end, and writes with --json."""

    input: str
    output: str
    frames: int
    seconds: float
    fps: float
    width: int
    height: int
    model: str
    trained: bool
    backend: str
    device: str
    dtype: str
    policy: str
    batch: int
    encoder: str
    pix_fmt: str
    copied_streams: int
    skipped_packets: int
    warnings: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # busy time of each stage

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return (
            f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps), "
            f"backend {self.backend}, reuse {self.policy}, "
            f"skipped packets {self.skipped_packets} -> {self.output}"
        )


def derain_video(
    input: Path | str,
    output: Path | str,
    *,
    model: str | Path | LoadedModel = "lite",
    backend: str = "auto",
    device: str = "auto",
    reuse: str = DEFAULT_POLICY,
    batch: int = 4,
    encoder: EncoderOptions = EncoderOptions(),
    audio: bool = True,
    overwrite: bool = False,
    keep_partial: bool = False,
    progress: Callable[[int, int], None] | None = None,
    runner: Runner | None = None,
    tile: int | str | None = None,
) -> VideoSummary:
    """Derain the video `input` into `output`, keeping its timing, tags, audio and subtitles.

    `progress(done, total)` is called as frames are written; `total` is the container's
    estimate (0 when it has none). `runner`, if given, is used instead of building one for
    `model` (several videos share one). `tile` ("auto" or a size) runs frames too big for the
    device in blended tiles (stream_derain.tiling); without it they are refused before any work.
    Raises DerainError for anything the user can fix.
    """
    input, output = Path(input), Path(output)
    check_output_path(output, [input], overwrite)
    encoder.validate()
    policy = parse_policy(reuse)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    runner = runner or select_runner(loaded.generator, backend, device)
    with VideoReader(input, passthrough=audio) as reader:
        runner = fit_runner(runner, reader.info.height, reader.info.width, batch, tile)
        total = reader.info.frames
        on_frames = (lambda done: progress(done, total)) if progress else None
        started = time.perf_counter()
        clock = StageClock()
        with atomic_output(output, keep_partial) as temporary:
            writer = VideoWriter(temporary, reader.info, encoder, reader.passthrough_streams)
            try:
                # on a GPU the conversion to yuv420p is nearly free, and takes the encoder's costliest step
                yuv420 = writer.yuv420_format if runner.device.type == "cuda" else None
                frames = run_pipeline(reader, writer, runner, policy, batch=batch, on_frames=on_frames, clock=clock,
                                      yuv420=yuv420)
            except BaseException:
                writer.finish_partial() if keep_partial else writer.abort()
                raise
            writer.close()
        seconds = time.perf_counter() - started
    return VideoSummary(
        input=str(input),
        output=str(output),
        frames=frames,
        seconds=round(seconds, 3),
        fps=round(frames / seconds, 3) if seconds > 0 else 0.0,
        width=reader.info.width,
        height=reader.info.height,
        model=loaded.source,
        trained=loaded.trained,
        backend=runner.name,
        device=str(runner.device),
        dtype=str(runner.dtype).removeprefix("torch."),
        policy=policy.spec,
        batch=batch,
        encoder=encoder.codec,
        pix_fmt=writer.pix_fmt,
        copied_streams=len(reader.passthrough_streams),
        skipped_packets=reader.skipped_packets + writer.dropped_packets,
        warnings=reader.warnings + writer.warnings,
        stage_seconds={stage: round(value, 3) for stage, value in clock.seconds.items()},
    )
