"""A camera moving over a still image (pan, zoom, shake), for video from photos."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

MOTIONS = ("pan", "zoom", "shake", "mixed")


def camera_frames(
    image: np.ndarray,
    rng: np.random.Generator,
    frames: int,
    size: tuple[int, int] | None = None,
    motion: str = "mixed",
) -> Iterator[np.ndarray]:
    """`frames` views (height, width) of `image` as a camera pans, zooms or shakes over it.

    The view window is smaller than the image, so no frame shows anything outside it.
    """
    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {MOTIONS}, got {motion!r}")
    source_h, source_w = image.shape[:2]
    out_h, out_w = size if size is not None else (source_h * 3 // 4 // 2 * 2, source_w * 3 // 4 // 2 * 2)
    kinds = {"pan", "zoom", "shake"} if motion == "mixed" else {motion}
    # Window scale (source px per output px) at its largest: it must fit in the image.
    fit = min(source_w / out_w, source_h / out_h)
    end_zoom = rng.uniform(0.75, 0.9) if "zoom" in kinds else 1.0
    scales = np.linspace(fit * 0.92, fit * 0.92 * end_zoom, frames)
    start = rng.uniform(0, 1, 2)
    end = rng.uniform(0, 1, 2) if "pan" in kinds else start
    shake = np.cumsum(rng.normal(0, 1.5, (frames, 2)), axis=0) * 0.3 if "shake" in kinds else np.zeros((frames, 2))
    for index in range(frames):
        t = index / max(frames - 1, 1)
        scale = scales[index]
        span_w, span_h = out_w * scale, out_h * scale
        # The window's top-left corner, moving between two random places that keep it inside.
        corner = (start + (end - start) * t) * [source_w - span_w, source_h - span_h]
        corner = np.clip(corner + shake[index], 0, [source_w - span_w, source_h - span_h])
        to_source = np.array([[scale, 0, corner[0]], [0, scale, corner[1]]])
        yield cv2.warpAffine(
            image, to_source, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101
        )
