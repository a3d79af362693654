"""Reading clean images: one file or a folder, unreadable files skipped and counted."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import DerainError
from ..safe_output import atomic_output

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def is_image_path(path: Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_rgb(path: Path) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB, whatever the file holds (grey, alpha, 16-bit); None if unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return None
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_image(path: Path, image: np.ndarray) -> None:
    """Write a uint8 image (RGB, or one channel) under a temporary name, renamed when complete."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    with atomic_output(Path(path)) as temporary:
        if not cv2.imwrite(str(temporary), bgr):
            raise DerainError(f"could not write {path}")


def image_paths(source: Path) -> list[Path]:
    """One image, or every image file in a folder (sorted, not recursive)."""
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.is_file() and is_image_path(p))
    if not source.exists():
        raise DerainError(f"{source} does not exist")
    return [source]


def read_images(paths: list[Path], skipped: list[Path]) -> Iterator[tuple[Path, np.ndarray]]:
    """Yield the readable images; warn about each unreadable one and append it to `skipped`."""
    for path in paths:
        image = read_rgb(path)
        if image is None:
            warnings.warn(f"skipping unreadable image {path}", stacklevel=2)
            skipped.append(path)
            continue
        yield path, image
