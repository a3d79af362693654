"""A scene out of focus: its blur, and the bright soft discs of its lights. Neither is a drop.

A street shot wide open is soft all over and full of out-of-focus lights, and a model trained on
sharp scenes takes such a scene for drops and darkens it (docs/TRAINING.md, "The damage away
from drops is the scene's own bokeh"). Both are drawn onto the clean frame before the drops, so
they are in both pictures of a pair: the mask leaves them out, and the model is taught to keep them.
"""

from __future__ import annotations

import cv2
import numpy as np

AREA = 128 * 128  # px: the density is discs per area this size, so a crop and a full frame look alike
RADIUS = (3.0, 20.0)  # px, drawn log-uniform: many small lights, a few big ones
EDGE = (0.5, 2.0)  # px: half the width of the disc's soft edge (a lens's aperture, a little out of round)
STRENGTH = (0.15, 0.8)  # how much light a disc adds, screened over the scene
RIM = (0.0, 0.5)  # brighter toward the edge, as an aperture's spherical aberration draws it
SATURATION = 0.35  # at most: lights of any hue, near white
# a light in the scene moves with it: a disc drawn at one place on every frame of a clip would not
STILL_ONLY = "scene bokeh and scene defocus are drawn on still images only, not on clips"


def defocus_scene(clean: np.ndarray, radius: float) -> np.ndarray:
    """`clean` ((H, W, 3) uint8 RGB) out of focus: blurred with a lens's disc of `radius` px."""
    reach = int(np.ceil(radius))
    offsets = np.arange(-reach, reach + 1, dtype=np.float32)
    # each tap's share of the disc, anti-aliased over a pixel at the rim
    kernel = np.clip(radius + 0.5 - np.hypot(offsets[:, None], offsets[None, :]), 0, 1)
    return cv2.filter2D(clean, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def add_bokeh(clean: np.ndarray, rng: np.random.Generator, density: tuple[float, float]) -> np.ndarray:
    """`clean` ((H, W, 3) uint8 RGB) with out-of-focus lights screened over it: per 128 x 128
    px a number of discs drawn from the range `density`."""
    height, width = clean.shape[:2]
    discs = rng.poisson(rng.uniform(*density) * height * width / AREA)
    image = clean.astype(np.float32) / 255
    dark = np.ones_like(image)  # the product of (1 - light) over the discs: the screen blend
    for _ in range(discs):
        radius = float(np.exp(rng.uniform(*np.log(RADIUS))))
        y, x = rng.uniform(0, height), rng.uniform(0, width)
        edge, strength, rim = rng.uniform(*EDGE), rng.uniform(*STRENGTH), rng.uniform(*RIM)
        colour = 1 - rng.uniform(0, SATURATION) * rng.dirichlet(np.ones(3)) * 3 / 2
        # the disc's light is 0 beyond radius + edge, so its box holds all of it
        top, bottom = max(0, int(y - radius - edge)), min(height, int(y + radius + edge) + 2)
        left, right = max(0, int(x - radius - edge)), min(width, int(x + radius + edge) + 2)
        rows = np.arange(top, bottom, dtype=np.float32)[:, None]
        cols = np.arange(left, right, dtype=np.float32)[None, :]
        distance = np.hypot(rows - y, cols - x)
        # 1 inside, 0 outside, a smoothstep across the edge between
        across = np.clip((radius + edge - distance) / (2 * edge), 0, 1)
        alpha = across * across * (3 - 2 * across) * (1 + rim * np.minimum(distance / radius, 1) ** 4)
        dark[top:bottom, left:right] *= 1 - np.clip(strength * alpha[..., None] * colour, 0, 1)
    return np.clip((1 - (1 - image) * dark) * 255 + 0.5, 0, 255).astype(np.uint8)
