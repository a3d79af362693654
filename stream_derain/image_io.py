"""Reading and writing still images, with the colour layouts users actually have."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import DerainError
from .safe_output import atomic_output

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def is_image_path(path: Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> np.ndarray:
    """RGB (H, W, 3), RGBA (H, W, 4) or gray (H, W), uint8 or uint16, as stored."""
    path = Path(path)
    if not path.exists():
        raise DerainError(f"{path} not found")
    if path.is_dir():
        raise DerainError(f"{path} is a directory, not an image")
    data = np.fromfile(path, dtype=np.uint8)  # imread can't take every path; imdecode can
    with _native_stderr() as complaints:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        reason = f" ({complaints[0]})" if complaints else ""
        raise DerainError(f"{path} is not a readable image{reason}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        image = cv2.cvtColor(image, code)
    if image.dtype not in (np.uint8, np.uint16):
        raise DerainError(f"{path}: {image.dtype} images are not supported (8 or 16 bit only)")
    return image


@contextlib.contextmanager
def _native_stderr() -> Iterator[list[str]]:
    """Collect what libpng and OpenCV print straight to file descriptor 2 while decoding, so a
    damaged file gives the user one line (with their reason in it), not theirs and then ours."""
    complaints: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield complaints
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                # "[ WARN:0@5.3] global grfmt_png.cpp:793 readFromStreamOrBuffer PNG input buffer is incomplete"
                text = re.sub(r"^\[[^]]*\] global \S+ \S+ ", "", line).strip()
                if text:
                    complaints.append(text)


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise DerainError(f"cannot encode an image as {suffix}")
    return encoded.tobytes()


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode by the file's extension and write it atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise DerainError(f"{path}: unknown image type {suffix or '(none)'}; use .png or .jpg")
    payload = encode_image(image, suffix)
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
