"""Rainy video: one pane of wet glass in front of a moving scene."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from .config import RainConfig
from .glass import WetGlass
from .render import RainySample, Seed, as_rng, render_drops, sample_look, with_grain


class RainyClip:
    """Renders the frames of one clip in order. The drops stay put on the glass while the
    scene moves; the look (focus, haze, veil) holds for the whole clip."""

    def __init__(self, seed: Seed, config: RainConfig = RainConfig(), rain_rate: float = 0.03) -> None:
        self.rng = as_rng(seed)
        self.config = config
        self.rain_rate = rain_rate
        self.look = sample_look(self.rng, config)
        self.glass: WetGlass | None = None

    def render(self, frame: np.ndarray) -> RainySample:
        """Rain on the next clean frame, (H, W, 3) uint8 RGB; every frame has the first one's size."""
        if self.glass is None:
            self.glass = WetGlass(self.rng, frame.shape[0], frame.shape[1], self.config, self.rain_rate)
            drops = self.glass.drops
        else:
            drops = self.glass.step()
        sample = render_drops(frame, drops, self.look, self.config.mask_threshold, self.config.veil_spread)
        return with_grain(sample, self.look.noise, self.rng)  # fresh grain on every frame


def render_clip(
    frames: Iterable[np.ndarray], seed: Seed, config: RainConfig = RainConfig(), rain_rate: float = 0.03
) -> Iterator[RainySample]:
    """Rain on each clean frame of a clip, seeded."""
    clip = RainyClip(seed, config, rain_rate)
    for frame in frames:
        yield clip.render(frame)
