"""Write rendered pairs in the Raindrop data set layout: data/N_rain.png, gt/N_clean.png, mask/N_mask.png."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DerainError
from .config import RainConfig
from .image_files import image_paths, read_images, write_image
from .render import RainySample, synthesize


@dataclass
class SynthReport:
    written: int = 0
    skipped: list[Path] = field(default_factory=list)


LAYOUT = {"data": "rain", "gt": "clean", "mask": "mask"}  # sub-folder: file name tag


def write_pair(out_dir: Path, index: int, sample: RainySample) -> None:
    images = {"data": sample.rain, "gt": sample.clean, "mask": sample.mask.astype(np.uint8) * 255}
    for sub, tag in LAYOUT.items():
        write_image(out_dir / sub / f"{index}_{tag}.png", images[sub])


def synth_images(
    clean: Path, out_dir: Path, config: RainConfig = RainConfig(), seed: int = 0, count: int = 1, overwrite: bool = False
) -> SynthReport:
    """Render `count` rainy versions of each image in `clean` (a file or a folder) into `out_dir`.

    Pair N is seeded by (seed, N): the same seed gives the same files, bit for bit. A folder
    that already holds pairs is refused unless `overwrite`.
    """
    if count < 1:
        raise DerainError(f"count must be at least 1, got {count}")
    paths = image_paths(clean)
    if not paths:
        raise DerainError(f"no image files in {clean}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DerainError(f"output {out_dir} exists and is not a folder")
    existing = [path for sub, tag in LAYOUT.items() for path in sorted((out_dir / sub).glob(f"*_{tag}.png"))]
    if existing and not overwrite:
        raise DerainError(f"{out_dir} already holds pairs ({existing[0].relative_to(out_dir)}, ...): use --overwrite to replace them")
    for sub in LAYOUT:
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    report = SynthReport()
    for _, image in read_images(paths, report.skipped):
        for _ in range(count):
            write_pair(out_dir, report.written, synthesize(image, np.random.default_rng([seed, report.written]), config))
            report.written += 1
    if report.written == 0:
        raise DerainError(f"none of the {len(paths)} image files in {clean} could be read")
    return report
