"""`derain image`: one file to one file, or a folder to a folder under the same names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .derainer import Derainer
from .errors import DerainError
from .image_io import is_image_path, read_image, write_image
from .safe_output import check_output_path


@dataclass
class ImageJobSummary:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def mask_path_for(output: Path) -> Path:
    return output.with_name(f"{output.stem}_mask.png")


def plan_image_job(source: Path, output: Path, overwrite: bool = False) -> list[tuple[Path, Path]]:
    """Pairs of (input, output), checked before any work starts."""
    source, output = Path(source), Path(output)
    if not source.exists():
        raise DerainError(f"{source} not found")
    if source.is_dir():
        if output.exists() and not output.is_dir():
            raise DerainError(f"{source} is a folder, so the output must be a folder too, not {output}")
        if output.exists() and output.resolve() == source.resolve():
            raise DerainError(f"output folder {output} is the input folder: refusing to overwrite its images")
        inputs = sorted(p for p in source.iterdir() if p.is_file() and is_image_path(p))
        if not inputs:
            raise DerainError(f"no images found in {source}")
        pairs = [(p, output / p.name) for p in inputs]
        if not overwrite:
            existing = [out for _, out in pairs if out.exists()]
            if existing:
                raise DerainError(f"{len(existing)} outputs exist already, e.g. {existing[0]} (use --overwrite)")
        return pairs
    if output.is_dir():
        output = output / source.name
    check_output_path(output, [source], overwrite)
    if not is_image_path(output):
        raise DerainError(f"{output}: unknown image type {output.suffix or '(none)'}; use .png or .jpg")
    return [(source, output)]


def run_image_job(
    pairs: list[tuple[Path, Path]],
    derainer: Derainer,
    save_mask: bool = False,
    on_progress: Callable[[Path], None] | None = None,
) -> ImageJobSummary:
    """Derain every pair. In a folder, an unreadable file is skipped and reported, not fatal."""
    summary = ImageJobSummary()
    folder_mode = len(pairs) > 1
    for source, output in pairs:
        try:
            image = read_image(source)
        except DerainError as error:
            if not folder_mode:
                raise
            summary.skipped.append((source, str(error)))
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            result = derainer.derain(image)
            write_image(output, result.image)
            if save_mask:
                write_image(mask_path_for(output), np.rint(result.mask * 255).astype(np.uint8))
            summary.written.append(output)
        if on_progress:
            on_progress(source)
    return summary
