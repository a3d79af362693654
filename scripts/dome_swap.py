"""Whose dome: a real drop's smooth lift given to a rendered drop of the same bin, and back.

`drop_parts.py` finds that a drop rebuilt as clean + its own quadratic dome (no detail, no
outline) keeps much of the map a rendered drop gets, and little of a real drop's. Here each drop
is rebuilt from a dome and the map's mean read inside it, with the dome's six coefficients per
channel (drop_parts.quadratic_terms: the same shape at any size) taken from:

  own                     the drop itself
  other                   its match: for a real drop, the rendered drop of its radius and lift
                          bin nearest in both, from renders on the same clean photo; for a
                          rendered drop, the real drop so matched
  other mean, own shape   the match's mean lift, the drop's own shape
  own mean, other shape   the other way round
  other look              the match's rain photo's quadratic (its dome plus the scene under it)
                          in place of this drop's, over this drop's scene's finer detail: the
                          smooth look a viewer sees, whatever the scene behind
  other look's mean, tilt, curvature
                          the drop's own look with only that term of it from the match's look

    python scripts/dome_swap.py [--model lite] [--seeds 2] [--blur-sigma 1.5,9]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.drop_census import LIFT_BINS, MIN_AREA, RADIUS_BINS  # noqa: E402
from scripts.drop_parts import BAND, quadratic_terms, rebuilt, study_setup, table  # noqa: E402
from scripts.synth_realism import drop_regions, luma  # noqa: E402
from stream_derain import Derainer  # noqa: E402
from stream_derain.synth import synthesize  # noqa: E402


@dataclass
class Dome:
    radius: float
    lift: float
    inside: np.ndarray  # the drop's pixels (bool, the photo's size)
    ys: np.ndarray  # its region: the drop widened by BAND px
    xs: np.ndarray
    coefficients: np.ndarray  # (6, 3): its quadratic fit over that region
    scene: np.ndarray  # (6, 3): the clean photo's quadratic fit there (the rain photo's is the sum)

    def bin(self) -> tuple[int, int]:
        return int(np.searchsorted(RADIUS_BINS, self.radius, "right")), int(np.searchsorted(LIFT_BINS, self.lift, "right"))


def domes(rain: np.ndarray, clean: np.ndarray) -> list[Dome]:
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(drop_regions(rain, clean))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND + 1, 2 * BAND + 1))
    lift, layer = luma(rain) - luma(clean), rain.astype(np.float64) - clean
    found = []
    for index in range(1, count):
        if boxes[index, cv2.CC_STAT_AREA] < MIN_AREA:
            continue
        inside = labels == index
        ys, xs = np.nonzero(cv2.dilate(inside.astype(np.uint8), kernel))
        terms = quadratic_terms(ys, xs)
        coefficients, *_ = np.linalg.lstsq(terms, layer[ys, xs], rcond=None)
        scene, *_ = np.linalg.lstsq(terms, clean[ys, xs].astype(np.float64), rcond=None)
        found.append(Dome(float(np.sqrt(inside.sum() / np.pi)), float(lift[inside].mean()), inside, ys, xs, coefficients, scene))
    return found


def nearest(drop: Dome, pool: list[Dome]) -> Dome | None:
    alike = [other for other in pool if other.bin() == drop.bin()]
    return min(alike, key=lambda o: abs(o.radius - drop.radius) / drop.radius + abs(o.lift - drop.lift) / max(abs(drop.lift), 1.0), default=None)


LOOK_TERMS = {"mean": [0], "tilt": [1, 2], "curvature": [3, 4, 5]}  # rows of quadratic_terms


def look_term(rows: list[int]) -> Callable[[Dome, Dome], np.ndarray]:
    """The drop's own look with only these terms of it taken from the match's look."""

    def choose(drop: Dome, match: Dome) -> np.ndarray:
        look = drop.coefficients + drop.scene
        look[rows] = (match.coefficients + match.scene)[rows]
        return look - drop.scene

    return choose


def swapped_maps(rain: np.ndarray, clean: np.ndarray, drops: list[Dome], pool: list[Dome], derainer: Derainer,
                 found: tuple[list, dict[str, list[float]]]) -> None:
    matched = [(drop, match) for drop in drops if (match := nearest(drop, pool)) is not None]
    found[0].extend((drop.radius, drop.lift) for drop, _ in matched)
    choices = {
        "own": lambda d, o: d.coefficients,
        "other": lambda d, o: o.coefficients,
        "other mean, own shape": lambda d, o: np.concatenate([o.coefficients[:1], d.coefficients[1:]]),
        "own mean, other shape": lambda d, o: np.concatenate([d.coefficients[:1], o.coefficients[1:]]),
        # the match's whole smooth look (its rain photo's fit) over this drop's fine scene detail
        "other look": lambda d, o: o.coefficients + o.scene - d.scene,
        **{f"other look's {name}": look_term(rows) for name, rows in LOOK_TERMS.items()},
    }
    for name, choose in choices.items():
        layer, region = np.zeros(rain.shape, np.float64), np.zeros(rain.shape[:2], bool)
        for drop, match in matched:
            layer[drop.ys, drop.xs] = quadratic_terms(drop.ys, drop.xs) @ choose(drop, match)
            region[drop.ys, drop.xs] = True
        attention = derainer.derain(rebuilt(rain, clean, layer, region)).mask
        found[1].setdefault(name, []).extend(float(attention[drop.inside].mean()) for drop, _ in matched)


def main() -> int:
    setup = study_setup(__doc__.splitlines()[0], seeds=2)
    if setup is None:
        return 0
    args, config, derainer, photos = setup
    found: dict[str, tuple[list, dict[str, list[float]]]] = {"real pairs": ([], {}), "rendered": ([], {})}
    for index, rain, clean in photos:
        real = domes(rain, clean)
        renders = [synthesize(clean, np.random.default_rng([seed, index]), config).rain for seed in range(args.seeds)]
        rendered = [domes(render, clean) for render in renders]
        swapped_maps(rain, clean, real, [drop for drops in rendered for drop in drops], derainer, found["real pairs"])
        for render, drops in zip(renders, rendered):
            swapped_maps(render, clean, drops, real, derainer, found["rendered"])
    table("real pairs, each drop's dome from", *found["real pairs"])
    table(f"rendered on the same clean photos ({args.seeds} seeds each, defocus {args.blur_sigma}, no veil), each drop's dome from", *found["rendered"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
