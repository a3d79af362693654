"""`derain synth` as a library call: pick image pairs, rainy video, or video from stills."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DerainError
from .bokeh import STILL_ONLY
from .camera import camera_frames
from .clips import RainyClip
from .config import RainConfig
from .image_files import image_paths, read_images
from .raindrop_layout import SynthReport, synth_images
from .video_file import is_video_path, synth_video, write_frame_pair


def synth_path(
    clean: Path,
    out: Path,
    config: RainConfig = RainConfig(),
    seed: int = 0,
    count: int = 1,
    frames: int = 0,
    fps: float = 25.0,
    motion: str = "mixed",
    rain_rate: float = 0.03,
    overwrite: bool = False,
) -> SynthReport:
    """Render rain for an image, a folder of images, or a video, into the folder `out`.

    Images give Raindrop-layout pairs (`count` per image), or with `frames` > 0 a clip per
    image with the camera moving over it; a video gives OUT/STEM_rain.mp4 beside its clean copy.
    """
    clean = Path(clean)
    if not clean.exists():
        raise DerainError(f"{clean} does not exist")
    video = clean.is_file() and is_video_path(clean)
    if config.changes_scene and (video or frames > 0):
        raise DerainError(STILL_ONLY)  # before OUT is made (RainyClip refuses it too, later)
    if video:
        synth_video(clean, out, config, seed, rain_rate, overwrite)
        return SynthReport(written=1)
    if frames > 0:
        return synth_still_videos(clean, out, config, seed, frames, fps, motion, rain_rate, overwrite)
    return synth_images(clean, out, config, seed, count, overwrite)


def synth_still_videos(
    clean: Path,
    out: Path,
    config: RainConfig,
    seed: int,
    frames: int,
    fps: float,
    motion: str,
    rain_rate: float,
    overwrite: bool,
) -> SynthReport:
    """A rainy clip and its clean twin per image, the camera panning, zooming or shaking."""
    if fps <= 0:
        raise DerainError(f"fps must be positive, got {fps}")
    paths = image_paths(clean)
    report = SynthReport()
    for index, (path, image) in enumerate(read_images(paths, report.skipped)):
        if min(image.shape[:2]) < 16:
            raise DerainError(f"{path} is too small for a video ({image.shape[1]}x{image.shape[0]})")
        rng = np.random.default_rng([seed, index])
        clip = RainyClip(rng, config, rain_rate)
        views = camera_frames(image, rng, frames, motion=motion)
        pairs = ((clip.render(view).rain, view) for view in views)
        write_frame_pair(pairs, Path(out), path.stem, fps, overwrite)
        report.written += 1
    if report.written == 0:
        raise DerainError(f"no readable image in {clean}")
    return report
