"""Write rendered pairs in the Raindrop data set layout: data/N_rain.png, gt/N_clean.png, mask/N_mask.png."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import DerainError
from .config import RainConfig
from .image_files import image_paths, read_images, write_rgb
from .render import RainySample, synthesize


@dataclass
class SynthReport:
    written: int = 0
    skipped: list[Path] = field(default_factory=list)


def write_pair(out_dir: Path, index: int, sample: RainySample) -> None:
    write_rgb(out_dir / "data" / f"{index}_rain.png", sample.rain)
    write_rgb(out_dir / "gt" / f"{index}_clean.png", sample.clean)
    if not cv2.imwrite(str(out_dir / "mask" / f"{index}_mask.png"), sample.mask.astype(np.uint8) * 255):
        raise DerainError(f"could not write the mask of pair {index} in {out_dir}")


def synth_images(
    clean: Path, out_dir: Path, config: RainConfig = RainConfig(), seed: int = 0, count: int = 1
) -> SynthReport:
    """Render `count` rainy versions of each image in `clean` (a file or a folder) into `out_dir`.

    Pair N is seeded by (seed, N): the same seed gives the same files, bit for bit.
    """
    if count < 1:
        raise DerainError(f"count must be at least 1, got {count}")
    paths = image_paths(clean)
    if not paths:
        raise DerainError(f"no image files in {clean}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DerainError(f"output {out_dir} exists and is not a folder")
    for sub in ("data", "gt", "mask"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    report = SynthReport()
    for _, image in read_images(paths, report.skipped):
        for _ in range(count):
            write_pair(out_dir, report.written, synthesize(image, np.random.default_rng([seed, report.written]), config))
            report.written += 1
    if report.written == 0:
        raise DerainError(f"none of the {len(paths)} image files in {clean} could be read")
    return report
