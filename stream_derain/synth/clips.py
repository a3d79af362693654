"""Rainy video: one pane of wet glass in front of a moving scene."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from ..errors import DerainError
from .bokeh import STILL_ONLY
from .config import RainConfig
from .glass import WetGlass
from .render import RainySample, Seed, as_rng, render_drops, sample_look, with_grain


class RainyClip:
    """Renders the frames of one clip in order. The drops stay put on the glass while the
    scene moves; the look (focus, haze, veil) holds for the whole clip."""

    def __init__(self, seed: Seed, config: RainConfig = RainConfig(), rain_rate: float = 0.03) -> None:
        if config.changes_scene:
            raise DerainError(STILL_ONLY)
        self.rng = as_rng(seed)
        self.config = config
        self.rain_rate = rain_rate
        self.look = sample_look(self.rng, replace(config, sensor_noise=None))
        # The grain draws from a child generator, which leaves the glass's stream as it is: the
        # same seed gives the same drops with grain or without.
        self.grain_rng = self.rng.spawn(1)[0] if config.sensor_noise is not None else None
        if self.grain_rng is not None:
            self.look = replace(self.look, noise=float(self.grain_rng.uniform(*config.sensor_noise)))
        self.glass: WetGlass | None = None

    def render(self, frame: np.ndarray) -> RainySample:
        """Rain on the next clean frame, (H, W, 3) uint8 RGB; every frame has the first one's size."""
        if self.glass is None:
            self.glass = WetGlass(self.rng, frame.shape[0], frame.shape[1], self.config, self.rain_rate)
            drops = self.glass.drops
        else:
            drops = self.glass.step()
        sample = render_drops(frame, drops, self.look, self.config.mask_threshold, self.config.veil_spread)
        if self.grain_rng is None:
            return sample
        return with_grain(sample, self.look.noise, self.grain_rng)  # fresh grain on every frame


def render_clip(
    frames: Iterable[np.ndarray], seed: Seed, config: RainConfig = RainConfig(), rain_rate: float = 0.03
) -> Iterator[RainySample]:
    """Rain on each clean frame of a clip, seeded."""
    clip = RainyClip(seed, config, rain_rate)
    for frame in frames:
        yield clip.render(frame)
