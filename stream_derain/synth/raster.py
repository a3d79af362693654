"""Turn drops into per-pixel maps: lens potential, coverage, depth inside the drop, highlight."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .drops import Drops

EDGE_PX = 0.8  # anti-aliased edge width: a drop's border is sharp on the glass
PATCH_SIZES = (4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024, 2048, 4096)


@dataclass
class DropMaps:
    """Per-pixel maps of one layer of drops, each (H, W) float32.

    `potential` is a lens height (px^2) whose gradient is the refraction displacement: for a
    disc it is (1+k)(R^2 - d^2)/2, so a pixel samples the scene at c - k (p - c): an inverted
    view k times wider than the drop.
    """

    potential: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray  # 1 at a drop's centre, 0 at its rim
    highlight: np.ndarray
    radius: np.ndarray | None = None  # the radius (px) of the largest drop on the pixel, when asked for


def rasterize(drops: Drops, height: int, width: int, with_radius: bool = False) -> DropMaps:
    """Draw all drops, merging overlaps by their maximum, in batches of equal patch size."""
    maps = DropMaps(*(np.zeros(height * width, np.float32) for _ in range(5 if with_radius else 4)))
    extent_x = drops.radius * 1.25 + np.abs(drops.tail_x) + 1
    extent_y = drops.radius * 1.25 + np.abs(drops.tail_y) + 1
    mid_x = drops.x + drops.tail_x / 2
    mid_y = drops.y + drops.tail_y / 2
    visible = (mid_x + extent_x > 0) & (mid_x - extent_x < width) & (mid_y + extent_y > 0) & (mid_y - extent_y < height)
    sizes = np.asarray(PATCH_SIZES)
    bucket_x = np.searchsorted(sizes, 2 * extent_x)
    bucket_y = np.searchsorted(sizes, 2 * extent_y)
    for index_x, index_y in sorted(set(zip(bucket_x[visible].tolist(), bucket_y[visible].tolist()))):
        chosen = visible & (bucket_x == index_x) & (bucket_y == index_y)
        size_x = int(sizes[min(index_x, len(sizes) - 1)])
        size_y = int(sizes[min(index_y, len(sizes) - 1)])
        _draw_batch(drops.select(chosen), size_x, size_y, height, width, maps)
    return DropMaps(*(m.reshape(height, width) for m in (maps.potential, maps.alpha, maps.depth, maps.highlight)),
                    radius=None if maps.radius is None else maps.radius.reshape(height, width))


def _draw_batch(drops: Drops, size_x: int, size_y: int, height: int, width: int, maps: DropMaps) -> None:
    # The patch is centred on the capsule's midpoint so that long trails fit.
    origin_x = np.floor(drops.x + drops.tail_x / 2).astype(np.int64) - size_x // 2
    origin_y = np.floor(drops.y + drops.tail_y / 2).astype(np.int64) - size_y // 2
    gx = (origin_x[:, None] + np.arange(size_x))[:, None, :]
    gy = (origin_y[:, None] + np.arange(size_y))[:, :, None]
    dx = (gx - drops.x[:, None, None].astype(np.float64)).astype(np.float32)
    dy = (gy - drops.y[:, None, None].astype(np.float64)).astype(np.float32)
    ex, ey = dx, dy
    if np.any(drops.tail_x) or np.any(drops.tail_y):
        # Offset from the nearest point of the capsule's axis.
        tx, ty = drops.tail_x[:, None, None], drops.tail_y[:, None, None]
        along = np.clip((dx * tx + dy * ty) / (tx * tx + ty * ty + 1e-6), 0, 1)
        ex, ey = dx - along * tx, dy - along * ty
    cos, sin = np.cos(drops.angle)[:, None, None], np.sin(drops.angle)[:, None, None]
    u = ex * cos + ey * sin
    v = (ey * cos - ex * sin) / drops.aspect[:, None, None]
    distance = np.sqrt(u * u + v * v)
    outline = drops.radius[:, None, None] * _wobble(u, v, distance, drops)
    inside = np.maximum(outline * outline - distance * distance, 0)
    potential = (1 + drops.magnification[:, None, None]) * inside * 0.5
    alpha = np.clip((outline - distance) * (1 / EDGE_PX) + 0.5, 0, 1)
    depth = np.maximum(1 - distance / np.maximum(outline, 1e-3), 0)
    # Light from above and a little left: the highlight sits up-left of the centre.
    radius = drops.radius[:, None, None]
    spot = 0.18 * radius + 0.5
    hx, hy = dx + 0.3 * radius, dy + 0.4 * radius
    highlight = drops.highlight[:, None, None] * np.exp(-(hx * hx + hy * hy) / (2 * spot * spot)) * (alpha > 0.5)

    # Scatter only pixels the drop touches: the patch corners are empty and scattering is slow.
    touched = (alpha > 0) & (gx >= 0) & (gx < width) & (gy >= 0) & (gy < height)
    flat = np.broadcast_to(gy * width + gx, touched.shape)[touched]
    for target, values in (
        (maps.potential, potential),
        (maps.alpha, alpha),
        (maps.depth, depth),
        (maps.highlight, highlight),
    ):
        np.maximum.at(target, flat, values[touched])
    if maps.radius is not None:
        np.maximum.at(maps.radius, flat, np.broadcast_to(radius, touched.shape)[touched])


def _wobble(u: np.ndarray, v: np.ndarray, distance: np.ndarray, drops: Drops) -> np.ndarray:
    """1 + sum_k a_k cos(k theta + phi_k), from cos/sin of theta by the angle-sum rules
    (no arctan2 or cos on every pixel)."""
    c1 = u / np.maximum(distance, 1e-6)
    s1 = v / np.maximum(distance, 1e-6)
    c2, s2 = c1 * c1 - s1 * s1, 2 * c1 * s1
    c3, s3 = c1 * c2 - s1 * s2, s1 * c2 + c1 * s2
    c5, s5 = c3 * c2 - s3 * s2, s3 * c2 + c3 * s2
    shape = np.ones_like(u)
    for column, (ck, sk) in enumerate(((c2, s2), (c3, s3), (c5, s5))):
        amplitude = drops.wobble[:, None, None, column]
        phase = drops.phase[:, None, None, column]
        shape += amplitude * (ck * np.cos(phase) - sk * np.sin(phase))
    return shape
