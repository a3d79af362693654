"""Render drops onto a clean image: refraction, rim, highlight, defocus and veil."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .bokeh import add_bokeh, defocus_scene
from .config import RainConfig
from .drops import Drops, sample_drops
from .mask import channel_max, local_difference
from .raster import DropMaps, rasterize

Seed = int | np.random.Generator

# The veil is a film of water and the light its drops scatter: a pane with few drops has little
# of it, and it reaches its full strength where drops cover this share of the frame. Tied to the
# drops, it can be told from a scene that is simply flat (hazy air, a dull day, a soft camera).
FULL_VEIL_COVERAGE = 0.3

@dataclass(frozen=True)
class Look:
    """How one image's drops look; a video keeps one look for all its frames."""

    blur_sigma: float  # defocus of the out-of-focus drops
    lens_blur: float  # a water lens is no perfect optic: its view is a little soft
    haze: float
    rim: float  # darkening at the rim, where light is bent out of the camera's view
    veil: float
    airlight: tuple[float, float, float]
    veil_level: float | None = None  # the grey the veil fades toward; None: `airlight`
    noise: float = 0.0  # the camera's grain, sigma in grey levels of 255
    scene_light: float | None = None  # the drops' haze fades toward the frame's mean colour times this; None: `airlight`
    see_through: float = 0.0  # the share of a drop's light that is the scene straight behind it
    see_through_radius: tuple[float, float] | None = None  # that share ramps up over these radii (px); None: all drops


@dataclass
class RainySample:
    """One rendered pair: `rain` and `clean` (H, W, 3) uint8 RGB, `soft_mask` (H, W) float32
    in [0, 1], and `mask` (H, W) bool: the 5x5 local mean of |rain - clean| above the paper's
    threshold, inside drops."""

    rain: np.ndarray
    clean: np.ndarray
    soft_mask: np.ndarray
    mask: np.ndarray


def as_rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sample_look(rng: np.random.Generator, config: RainConfig) -> Look:
    grey = rng.uniform(0.7, 0.97)
    tint = rng.uniform(-0.03, 0.03, 3)
    look = Look(
        blur_sigma=float(rng.uniform(*config.blur_sigma)),
        lens_blur=float(rng.uniform(*config.lens_blur)),
        haze=float(rng.uniform(*config.haze)),
        rim=float(rng.uniform(*config.rim)),
        veil=float(rng.uniform(*config.veil)),
        airlight=tuple(float(v) for v in np.clip(grey + tint, 0, 1)),
    )
    # drawn last and only when asked for, so every other setting renders as it did before
    if config.veil_chance < 1 and rng.random() >= config.veil_chance:
        look = replace(look, veil=0.0)
    if config.veil_level is not None:
        look = replace(look, veil_level=float(rng.uniform(*config.veil_level)))
    if config.sensor_noise is not None:
        look = replace(look, noise=float(rng.uniform(*config.sensor_noise)))
    if config.scene_light is not None:
        # both drawn whatever the chance, so the chance alone decides which frames it touches
        factor, drawn = float(rng.uniform(*config.scene_light)), rng.random()
        if drawn < config.scene_light_chance:
            look = replace(look, scene_light=factor)
    if config.see_through is not None:
        share, drawn = float(rng.uniform(*config.see_through)), rng.random()
        if drawn < config.see_through_chance:
            look = replace(look, see_through=share, see_through_radius=config.see_through_radius)
    return look


def synthesize(clean: np.ndarray, seed: Seed, config: RainConfig = RainConfig()) -> RainySample:
    """Rain on `clean` ((H, W, 3) uint8 RGB): the same seed gives the same drops, bit for bit."""
    rng = as_rng(seed)
    drops = sample_drops(rng, clean.shape[0], clean.shape[1], config)
    look = sample_look(rng, config)
    # the scene's own defocus and lights are drawn after the drops and the look, so those render
    # as they did without them; the lights come after the blur, as a defocused scene shows them
    if config.scene_defocus is not None:
        radius, drawn = float(rng.uniform(*config.scene_defocus)), rng.random()
        if drawn < config.scene_defocus_chance:
            clean = defocus_scene(clean, radius)
    if config.scene_bokeh is not None:
        if rng.random() < config.scene_bokeh_chance:
            clean = add_bokeh(clean, rng, config.scene_bokeh)
    return with_grain(render_drops(clean, drops, look, config.mask_threshold, config.veil_spread), look.noise, rng)


def with_grain(sample: RainySample, sigma: float, rng: np.random.Generator) -> RainySample:
    """The camera's grain on both pictures alike, so the pair still differs only by the drops.
    It is added after the glass, so the drops' flat middles carry it as in a real photo. One field
    for all three channels: a photo's compression keeps little colour noise."""
    if sigma <= 0:
        return sample
    grain = rng.normal(0.0, sigma, (*sample.rain.shape[:2], 1)).astype(np.float32)

    def grainy(image: np.ndarray) -> np.ndarray:
        return np.clip(image + grain + 0.5, 0, 255).astype(np.uint8)

    return replace(sample, rain=grainy(sample.rain), clean=grainy(sample.clean))


def render_drops(
    clean: np.ndarray, drops: Drops, look: Look, mask_threshold: int = 30, veil_spread: float = 0.0
) -> RainySample:
    """Composite `drops` over `clean`: the out-of-focus layer first, the sharp one on top.
    The veil's strength follows the drops' coverage: overall, or local with `veil_spread` > 0."""
    clean = np.ascontiguousarray(clean)
    height, width = clean.shape[:2]
    image = clean.astype(np.float32) / 255
    soft = np.zeros((height, width), np.float32)
    drop_look = look
    if look.scene_light is not None:  # the veil below keeps fading toward `airlight`
        light = np.clip(image.mean(axis=(0, 1)) * look.scene_light, 0, 1)
        drop_look = replace(look, airlight=tuple(float(v) for v in light))
    for blurred in (True, False):
        layer = drops.select(drops.blurred == blurred)
        if len(layer) == 0:
            continue
        maps = rasterize(layer, height, width, with_radius=look.see_through > 0 and look.see_through_radius is not None)
        sigma = look.blur_sigma if blurred else 0.0
        image, alpha = _composite_layer(image, maps, drop_look, sigma)
        soft = np.maximum(soft, alpha)
    with_drops = _to_uint8(image)
    if veil_spread > 0:
        coverage = cv2.GaussianBlur(soft, (0, 0), veil_spread, borderType=cv2.BORDER_REFLECT)
        veil = (look.veil * np.minimum(1.0, coverage / FULL_VEIL_COVERAGE))[..., None]
    else:
        veil = look.veil * min(1.0, float(soft.mean()) / FULL_VEIL_COVERAGE)
    if np.any(veil > 0):
        if look.veil_level is None:
            level = look.airlight
        else:  # a dim film between the drops: the drops keep their own bright haze
            level = (look.veil_level,) * 3
            veil = veil * (1 - soft[..., None])
        image = image * (1 - veil) + veil * np.asarray(level, np.float32)
    rain = _to_uint8(image)
    # The paper's threshold, measured before the veil so a hazy frame does not light it up, on
    # never set where the rainy pixel equals the clean one
    mask = (local_difference(with_drops, clean) > mask_threshold) & (soft > 0.05) & (channel_max(cv2.absdiff(rain, clean)) > 0)
    return RainySample(rain=rain, clean=clean, soft_mask=soft, mask=mask)


def _composite_layer(image: np.ndarray, maps: DropMaps, look: Look, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    height, width = maps.alpha.shape
    padded = np.pad(maps.potential, 1, mode="edge")  # central differences that work at any size
    grad_x = (padded[1:-1, 2:] - padded[1:-1, :-2]) * 0.5
    grad_y = (padded[2:, 1:-1] - padded[:-2, 1:-1]) * 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] + grad_x
    ys = np.arange(height, dtype=np.float32)[:, None] + grad_y
    view = cv2.remap(image, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    view = cv2.GaussianBlur(view, (0, 0), look.lens_blur)
    # Haze, rim and highlight folded into one gain and one offset: fewer passes over the image.
    shade = 1 - look.rim * np.clip(1 - maps.depth * (1 / 0.35), 0, 1) ** 2
    gain = ((1 - look.haze) * shade)[..., None]
    offset = (look.haze * shade)[..., None] * np.asarray(look.airlight, np.float32) + maps.highlight[..., None]
    view = view * gain + offset
    alpha = maps.alpha
    if sigma > 0:
        # The glass is out of focus, the scene is not: the drops' own light (coverage times lens
        # view) is blurred, and the sharp scene shows through only where the blurred drops leave
        # it room. A defocused occluder dims the scene behind it; it does not keep its detail.
        drawn = defocus(alpha[..., None] * view, sigma)
        alpha = defocus(alpha, sigma)
        refracted = image * (1 - alpha[..., None]) + drawn
    else:
        refracted = image + alpha[..., None] * (view - image)
    if look.see_through <= 0:
        return refracted, alpha
    # A translucent drop: part of its light comes straight through from the scene behind it, in
    # focus (the camera is focused on the scene) and hazed as the view is, with no rim or highlight.
    through = image + (alpha * look.haze)[..., None] * (np.asarray(look.airlight, np.float32) - image)
    return refracted + _see_through_share(maps, look, sigma) * (through - refracted), alpha


def _see_through_share(maps: DropMaps, look: Look, sigma: float) -> float | np.ndarray:
    """The share of each pixel's drop light that comes straight through: one number, or an
    (H, W, 1) map that grows with the radius of the drop on the pixel, as out of focus as it."""
    if maps.radius is None:  # drawn only for a look with a radius ramp
        return look.see_through
    low, high = look.see_through_radius
    share = look.see_through * np.clip((maps.radius - low) / (high - low), 0, 1)
    return (defocus(share, sigma) if sigma > 0 else share)[..., None]


def defocus(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones at reduced resolution, which looks the same and costs far less."""
    factor = int(sigma // 2.5)
    height, width = image.shape[:2]
    if factor < 2 or min(height, width) < 8 * factor:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    small = cv2.resize(image, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
