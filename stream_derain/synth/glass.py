"""Drops over time: they stick to the glass, grow, slide, merge, and new ones land."""

from __future__ import annotations

import numpy as np

from .config import RainConfig
from .drops import Drops, focus_flags, new_drops, sample_drops, sample_radii


class WetGlass:
    """The drops on a pane, advanced frame by frame; seeded by `rng`.

    `rain_rate` is new drops per frame per 100x100 px; a drop larger than `slide_radius` may
    start to slide down, leaving a thin trail of water behind it.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        height: int,
        width: int,
        config: RainConfig = RainConfig(),
        rain_rate: float = 0.03,
        slide_radius: float | None = None,
    ) -> None:
        self.rng = rng
        self.height, self.width = height, width
        self.config = config
        self.rain_rate = rain_rate
        self.slide_radius = slide_radius if slide_radius is not None else 0.5 * config.radius[1]
        self.drops = sample_drops(rng, height, width, config)
        self.focus_share = float(self.drops.blurred.mean()) if len(self.drops) else config.focus_mix
        self.start_cover = self._covered()
        count = len(self.drops)
        self.speed = np.zeros(count, np.float32)  # px per frame, > 0 for sliding drops
        self.trail = np.full(count, -1)  # index of the trail a sliding drop is drawing

    def step(self) -> Drops:
        """Advance one frame and return the drops to draw."""
        count = len(self.drops)
        grown = self._grow()
        self._slide()
        self._land()
        active = np.ones(len(self.drops), bool)
        active[:count] = grown | (self.speed[:count] > 0)
        self._merge(active)
        self._forget_gone()
        return self.drops

    def _grow(self) -> np.ndarray:
        # Condensation and small hits: a few drops swell a little each frame.
        growing = (self.rng.random(len(self.drops)) < 0.05) & (self.drops.tail_y == 0)
        self.drops.radius[growing] *= 1.02
        return growing

    def _slide(self) -> None:
        d = self.drops
        heavy = (d.radius > self.slide_radius) & (self.speed == 0) & (d.tail_y == 0)
        starting = np.flatnonzero(heavy & (self.rng.random(len(d)) < 0.02))
        for index in starting:
            self.speed[index] = self.rng.uniform(0.5, 3.0)
            trail = new_drops(
                self.rng,
                d.x[index : index + 1],
                d.y[index : index + 1],
                d.radius[index : index + 1] * 0.3,
                self.config,
                d.blurred[index : index + 1],
            )
            trail.aspect[:] = 1.0
            self._append(trail)
            self.trail[index] = len(self.drops) - 1
            d = self.drops
        moving = np.flatnonzero(self.speed > 0)
        d.y[moving] += self.speed[moving]
        d.x[moving] += self.rng.normal(0, 0.3, len(moving)).astype(np.float32)
        d.radius[moving] *= 0.998  # water left in the trail
        for index in moving:
            trail = self.trail[index]
            if trail >= 0:
                # The trail runs from where the slide began down to the drop's current place.
                top_y = d.y[trail] + d.tail_y[trail]
                d.tail_x[trail] = d.x[trail] - d.x[index]
                d.x[trail], d.y[trail] = d.x[index], d.y[index]
                d.tail_y[trail] = top_y - d.y[index]

    def _land(self) -> None:
        # Rain lands while the glass holds less water than it started with, plus a half: a
        # long video neither dries out nor drowns.
        if self._covered() > 1.5 * self.start_cover:
            return
        expected = self.rain_rate * self.height * self.width / 1e4
        count = int(self.rng.poisson(expected))
        if count == 0:
            return
        low, high = self.config.radius
        radius = sample_radii(self.rng, count, low, max(low, high * 0.5), self.config.size_tail)
        x = self.rng.uniform(0, self.width, count)
        y = self.rng.uniform(0, self.height, count)
        blurred = focus_flags(self.rng, count, self.focus_share)
        self._append(new_drops(self.rng, x, y, radius, self.config, blurred))

    def _merge(self, active: np.ndarray) -> None:
        # A drop that touches another becomes one with it, with their volume (radius^3 adds
        # up) at their volume-weighted centre. Only drops that grew, moved or landed this frame
        # can newly touch, so only they are checked.
        d = self.drops
        candidates = np.flatnonzero(active & (d.tail_y == 0))
        if len(candidates) == 0:
            return
        others = np.flatnonzero(d.tail_y == 0)
        distance = np.hypot(d.x[candidates, None] - d.x[None, others], d.y[candidates, None] - d.y[None, others])
        touching = distance < 0.6 * (d.radius[candidates, None] + d.radius[None, others])
        gone = np.zeros(len(d), bool)
        for i, j in zip(*np.nonzero(touching)):
            a, b = candidates[i], others[j]
            if a == b or gone[a] or gone[b]:
                continue
            va, vb = d.radius[a] ** 3, d.radius[b] ** 3
            d.x[a] = (d.x[a] * va + d.x[b] * vb) / (va + vb)
            d.y[a] = (d.y[a] * va + d.y[b] * vb) / (va + vb)
            d.radius[a] = (va + vb) ** (1 / 3)
            self.speed[a] = max(self.speed[a], self.speed[b])
            if self.trail[a] < 0:
                self.trail[a] = self.trail[b]
            gone[b] = True
        if gone.any():
            self._keep(~gone)

    def _forget_gone(self) -> None:
        d = self.drops
        self._keep((d.y - d.radius < self.height + 1) | (self.speed == 0))

    def _covered(self) -> float:
        return float(np.sum(self.drops.radius.astype(np.float64) ** 2))

    def _append(self, extra: Drops) -> None:
        self.drops = Drops.concat([self.drops, extra])
        self.speed = np.concatenate([self.speed, np.zeros(len(extra), np.float32)])
        self.trail = np.concatenate([self.trail, np.full(len(extra), -1)])

    def _keep(self, keep: np.ndarray) -> None:
        new_index = np.cumsum(keep) - 1
        trail = self.trail[keep]
        kept_trail = trail >= 0
        trail[kept_trail] = np.where(keep[trail[kept_trail]], new_index[trail[kept_trail]], -1)
        self.drops = self.drops.select(keep)
        self.speed = self.speed[keep]
        self.trail = trail
