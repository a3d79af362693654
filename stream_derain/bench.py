"""`derain bench`: inference speed of a model on a backend, measured the same way everywhere.

Inference is timed over a short sequence of frames with the chosen reuse policy, synchronised
with the device, after a warm-up; repeats give a median and a spread. Achieved TFLOP/s come from
the MACs that actually ran (ARN steps are counted, since reuse skips some of them).
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .backends.base import AttentionState, Runner
from .checkpoint import LoadedModel
from .cost import macs_per_frame
from .frames import pad_to_multiple
from .models import Generator
from .temporal import parse_policy
from .video import EncoderOptions

RESOLUTIONS = {"480x720": (480, 720), "720p": (720, 1280), "1080p": (1080, 1920), "4k": (2160, 3840)}


def parse_resolution(text: str) -> tuple[int, int]:
    """`720p`, `1080p`, `4k`, `480x720` (H x W)."""
    key = text.strip().lower()
    if key in RESOLUTIONS:
        return RESOLUTIONS[key]
    height, sep, width = key.partition("x")
    if sep and height.isdigit() and width.isdigit() and int(height) > 0 and int(width) > 0:
        return int(height), int(width)
    raise ValueError(f"bad resolution {text!r}: use 480x720 (H x W), 720p, 1080p or 4k")


class CountingRunner:
    """Passes calls through to a runner and counts the pixels that ARN steps and restores see:
    ARN steps on the small frame of `map_zoom` cost as many full-size steps as their share of pixels."""

    def __init__(self, runner: Runner) -> None:
        self.inner = runner
        self.name, self.config = runner.name, runner.config
        self.device, self.dtype = runner.device, runner.dtype
        self.fixed_shapes = runner.fixed_shapes
        self.reset_counts()

    def reset_counts(self) -> None:
        self.attend_pixels = 0
        self.restore_pixels = 0

    @property
    def arn_steps_per_frame(self) -> float:
        return self.attend_pixels / self.restore_pixels

    def init_state(self, x: torch.Tensor) -> AttentionState:
        return self.inner.init_state(x)

    def attend_step(self, x: torch.Tensor, state: AttentionState) -> AttentionState:
        self.attend_pixels += x[:, 0].numel()
        return self.inner.attend_step(x, state)

    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.restore_pixels += x[:, 0].numel()
        return self.inner.restore(x, mask)


@dataclass
class InferenceBench:
    backend: str
    device: str
    dtype: str
    resolution: tuple[int, int]
    batch: int
    reuse: str
    frames: int
    fps_median: float
    fps_min: float
    fps_max: float
    arn_steps_per_frame: float
    tflops: float
    peak_host_mib: float
    peak_gpu_mib: float | None
    repeats: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_host_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_inference(
    runner: Runner,
    generator: Generator,
    height: int,
    width: int,
    batch: int = 1,
    reuse: str = "none",
    frames: int = 8,
    warmup: int = 1,
    repeats: int = 3,
) -> InferenceBench:
    """Frames per second of attend + restore on `frames` frames, `repeats` times."""
    counter = CountingRunner(runner)
    policy = parse_policy(reuse)
    torch.manual_seed(0)
    base = torch.rand(1, 3, height, width, device=runner.device, dtype=runner.dtype)
    # slowly drifting frames, so change-driven policies see something like video
    clip = [base.roll(shifts=i, dims=-1) for i in range(batch)]
    x, _ = pad_to_multiple(torch.cat(clip), runner.config.pad_multiple)
    batches = max(1, frames // batch)
    if runner.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(runner.device)

    def one_pass() -> float:
        policy.reset()
        synchronize(runner.device)
        start = time.perf_counter()
        for _ in range(batches):
            counter.restore(x, policy.masks(x, counter))
        synchronize(runner.device)
        return batches * batch / (time.perf_counter() - start)

    for _ in range(warmup):
        one_pass()
    counter.reset_counts()
    rates = [one_pass() for _ in range(repeats)]
    frame_macs = macs_per_frame(generator.config, *x.shape[-2:], counter.arn_steps_per_frame)
    fps = statistics.median(rates)
    return InferenceBench(
        backend=runner.name,
        device=str(runner.device),
        dtype=str(runner.dtype).replace("torch.", ""),
        resolution=(height, width),
        batch=batch,
        reuse=policy.spec,
        frames=batches * batch,
        fps_median=fps,
        fps_min=min(rates),
        fps_max=max(rates),
        arn_steps_per_frame=counter.arn_steps_per_frame,
        tflops=2 * frame_macs * fps / 1e12,
        peak_host_mib=peak_host_mib(),
        peak_gpu_mib=torch.cuda.max_memory_allocated(runner.device) / 2**20 if runner.device.type == "cuda" else None,
        repeats=rates,
    )


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """The device's measured dense matrix-multiply rate: the ceiling to compare a model against."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


@dataclass
class EndToEndBench:
    frames: int
    fps: float
    inference_fps: float
    efficiency: float  # end-to-end fps over inference-only fps on the same clip and runner
    stage_seconds: dict[str, float]


RENDERED_FRAMES = 16  # rendering costs about 0.7 s a 1080p frame on one core; longer clips go back and forth


def render_bench_clip(path: Path, height: int, width: int, frames: int, seed: int = 0) -> Path:
    """A rainy clip with a moving camera, rendered here so the bench needs no files. Past
    RENDERED_FRAMES it plays the rendered frames back and forth (no frame twice in a row)."""
    from fractions import Fraction

    from .synth.camera import camera_frames
    from .synth.clips import render_clip
    from .video import VideoInfo, VideoWriter

    rng = np.random.default_rng(seed)
    scene = cv2.resize(_bench_scene(rng), (width * 5 // 4, height * 5 // 4), interpolation=cv2.INTER_CUBIC)
    info = VideoInfo(width, height, Fraction(1, 25), Fraction(25), "h264", "yuv420p", frames, None, 0, 2, 2, 2, None)
    writer = VideoWriter(path, info, EncoderOptions(crf=18, preset="veryfast"))
    clean = camera_frames(scene, rng, min(frames, RENDERED_FRAMES), size=(height, width))
    rendered = [sample.rain for sample in render_clip(clean, seed)]
    there_and_back = rendered + rendered[-2:0:-1]
    for index in range(frames):
        writer.write_frame(there_and_back[index % len(there_and_back)], index, 1)
    writer.close()
    return path


def _bench_scene(rng: np.random.Generator) -> np.ndarray:
    try:
        from skimage import data

        return data.astronaut()
    except ImportError:  # any textured picture will do
        return (rng.random((512, 512, 3)) * 255).astype("uint8")


def bench_end_to_end(
    runner: Runner,
    loaded: LoadedModel,
    height: int,
    width: int,
    batch: int = 4,
    reuse: str = "none",
    frames: int = 16,
    folder: Path | None = None,
    encoder: EncoderOptions = EncoderOptions(),
    clip: Path | None = None,
) -> EndToEndBench:
    """`derain video` on a clip (rendered here unless `clip` is given, then `height`, `width` and
    `frames` are the clip's), beside inference alone on the same decoded frames."""
    import tempfile

    from .pipeline import derain_batch, derain_video
    from .video import DecodedFrame, VideoReader

    with tempfile.TemporaryDirectory(dir=folder) as work:
        clip = clip or render_bench_clip(Path(work) / "rain.mp4", height, width, frames)
        with VideoReader(clip, passthrough=False) as reader:
            decoded = [item.image for item in reader if isinstance(item, DecodedFrame)]
        policy = parse_policy(reuse)

        def inference_only() -> float:
            policy.reset()
            synchronize(runner.device)
            start = time.perf_counter()
            for i in range(0, len(decoded), batch):
                derain_batch(np.stack(decoded[i : i + batch]), runner, policy)
            synchronize(runner.device)
            return len(decoded) / (time.perf_counter() - start)

        inference_only()  # warm-up (allocations, CUDA graphs, ORT sessions)
        # alternate the two, best of each: load on a shared machine only ever slows a run down
        inference, end_to_end, summary = [], [], None
        for _ in range(2):
            inference.append(inference_only())
            summary = derain_video(clip, Path(work) / "out.mp4", model=loaded, runner=runner, reuse=reuse,
                                   batch=batch, encoder=encoder, overwrite=True)
            end_to_end.append(summary.fps)
    best_inference, best_e2e = max(inference), max(end_to_end)
    return EndToEndBench(summary.frames, best_e2e, best_inference, best_e2e / best_inference, summary.stage_seconds)
