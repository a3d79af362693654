"""Drop geometry: where the drops sit on the glass, their size, outline and focus."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .config import RainConfig

WOBBLE_ORDERS = (2, 3, 5)  # low angular harmonics bend a circle into an irregular outline


@dataclass
class Drops:
    """Drops as parallel arrays, one entry per drop (struct of arrays keeps rendering vectorised).

    A drop is a capsule: a disc at (x, y) swept along `tail` (zero for a round drop, a long
    thin one for the trail a sliding drop leaves), with an elliptic, wobbly outline.
    """

    x: np.ndarray
    y: np.ndarray
    radius: np.ndarray
    aspect: np.ndarray  # minor/major axis of the ellipse
    angle: np.ndarray
    tail_x: np.ndarray
    tail_y: np.ndarray
    wobble: np.ndarray  # (N, len(WOBBLE_ORDERS)) relative amplitude of each harmonic
    phase: np.ndarray  # (N, len(WOBBLE_ORDERS))
    magnification: np.ndarray
    highlight: np.ndarray  # specular highlight strength
    blurred: np.ndarray  # bool: out of focus

    def __len__(self) -> int:
        return len(self.x)

    def select(self, keep: np.ndarray) -> Drops:
        return Drops(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Drops]) -> Drops:
        return Drops(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Drops)})

    @staticmethod
    def empty() -> Drops:
        return Drops(**{f.name: _empty_field(f.name) for f in fields(Drops)})


def _empty_field(name: str) -> np.ndarray:
    if name in ("wobble", "phase"):
        return np.zeros((0, len(WOBBLE_ORDERS)), np.float32)
    return np.zeros(0, bool if name == "blurred" else np.float32)


def sample_radii(rng: np.random.Generator, count: int, low: float, high: float, tail: float) -> np.ndarray:
    """Truncated power law p(r) ~ r^-tail on [low, high]: many small drops, few big ones."""
    u = rng.random(count)
    if high <= low:
        return np.full(count, low, np.float32)
    a, b = low ** (1 - tail), high ** (1 - tail)
    return ((a - u * (a - b)) ** (1 / (1 - tail))).astype(np.float32)


def new_drops(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, radius: np.ndarray, config: RainConfig, blurred: np.ndarray
) -> Drops:
    """Round-ish drops at the given places, with random outline, optics and highlight."""
    n = len(x)
    irregular = np.minimum(1.0, radius / 12.0)[:, None]  # tiny drops stay round
    return Drops(
        x=x.astype(np.float32),
        y=y.astype(np.float32),
        radius=radius.astype(np.float32),
        aspect=rng.uniform(0.75, 1.0, n).astype(np.float32),
        angle=rng.uniform(0, np.pi, n).astype(np.float32),
        tail_x=np.zeros(n, np.float32),
        tail_y=np.zeros(n, np.float32),
        wobble=(rng.uniform(0, 1, (n, 3)) * np.array([0.12, 0.08, 0.04]) * irregular).astype(np.float32),
        phase=rng.uniform(0, 2 * np.pi, (n, 3)).astype(np.float32),
        magnification=rng.uniform(*config.magnification, n).astype(np.float32),
        highlight=rng.uniform(*config.highlight, n).astype(np.float32),
        blurred=blurred.astype(bool),
    )


def focus_flags(rng: np.random.Generator, count: int, focus_mix: float) -> np.ndarray:
    """Which drops are out of focus. Most images are all one or the other, some mix both."""
    if rng.random() < 0.7:
        return np.full(count, rng.random() < focus_mix)
    return rng.random(count) < focus_mix


def sample_drops(rng: np.random.Generator, height: int, width: int, config: RainConfig) -> Drops:
    """Drops for one image of height x width, drawn from `config`'s ranges."""
    coverage = rng.uniform(*config.density) * height * width
    low, high = config.radius
    high_here = max(low, high * rng.uniform(0.35, 1.0))  # some images hold only small drops
    radii: list[np.ndarray] = []
    area = 0.0
    while area < coverage and sum(len(r) for r in radii) < 20000:
        batch = sample_radii(rng, 64, low, high_here, config.size_tail)
        cumulative = area + np.cumsum(np.pi * batch.astype(np.float64) ** 2 * 0.9)
        take = int(np.searchsorted(cumulative, coverage)) + 1
        radii.append(batch[:take])
        area = float(cumulative[min(take, len(batch)) - 1])
    radius = np.concatenate(radii) if radii else np.zeros(0, np.float32)
    n = len(radius)
    x = rng.uniform(-radius, width + radius)
    y = rng.uniform(-radius, height + radius)
    drops = new_drops(rng, x, y, radius, config, focus_flags(rng, n, config.focus_mix))
    return Drops.concat([drops, _merged_satellites(rng, drops, config), _trails(rng, drops, config)])


def _merged_satellites(rng: np.random.Generator, drops: Drops, config: RainConfig) -> Drops:
    """Smaller drops overlapping a parent: their union reads as two drops that merged."""
    parents = np.flatnonzero((drops.radius > 4) & (rng.random(len(drops)) < config.merged_fraction))
    if len(parents) == 0:
        return Drops.empty()
    r = drops.radius[parents] * rng.uniform(0.45, 0.9, len(parents))
    direction = rng.uniform(0, 2 * np.pi, len(parents))
    distance = (drops.radius[parents] + r) * rng.uniform(0.45, 0.8, len(parents))
    satellites = new_drops(
        rng,
        drops.x[parents] + distance * np.cos(direction),
        drops.y[parents] + distance * np.sin(direction),
        r,
        config,
        drops.blurred[parents],
    )
    satellites.magnification = drops.magnification[parents]  # one lens of water, one optics
    return satellites


def _trails(rng: np.random.Generator, drops: Drops, config: RainConfig) -> Drops:
    """Thin streaks above drops that slid down the glass and left water behind."""
    heads = np.flatnonzero((drops.radius > 5) & (rng.random(len(drops)) < config.trail_fraction))
    if len(heads) == 0:
        return Drops.empty()
    trails = new_drops(
        rng,
        drops.x[heads],
        drops.y[heads] - drops.radius[heads] * 0.5,
        drops.radius[heads] * rng.uniform(0.2, 0.45, len(heads)),
        config,
        drops.blurred[heads],
    )
    length = drops.radius[heads] * rng.uniform(2.0, 8.0, len(heads))
    trails.tail_x = (length * rng.uniform(-0.15, 0.15, len(heads))).astype(np.float32)
    trails.tail_y = (-length).astype(np.float32)
    trails.aspect[:] = 1.0
    trails.highlight *= 0.5
    return trails
