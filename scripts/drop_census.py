"""Drop by drop: what the map makes of real drops against rendered drops of the same size and lift.

Each drop is a connected region of the paper's mask (`synth_realism.drop_regions`), on the real
pairs of ../shared/real-raindrop (evaluation only) and on drops rendered onto the same clean
photos. For each drop: its radius, how much brighter than clean it is (`lift`), how flat that
lift is (its middle against its 90th percentile: 1 is a plateau, low is a peak with soft flanks),
its inner contrast (7x7 local standard deviation, rain/clean), `edge` (the lift's slope along its
outline over its mean lift), `sat` (saturation, rain/clean), `Cb` (OpenCV's blue-difference
shift), and what the model makes of it:
its map's mean there and the share of the lift it removes. Drops are grouped by radius and lift,
so a real drop is set beside rendered drops that are alike in those two and differ in the rest.
`through` is how much of the clean scene's fine detail shows through the drop: the correlation
of rain's and clean's high-pass Y inside it; `out-thru` is the same for the model's output, how
much of that detail the repair shows (above `through`: it gave some back), and `out-con` the
output's inner contrast over clean's (above `contrast`: it raised detail the drop had flattened;
correlation alone cannot see a change of amplitude). First line: the map inside the real drops in their
own photo and with those drops alone pasted onto the clean one. Under each table, the drops' light:
a line fitted to their lift against the clean scene's mean Y behind them, `lift = h (A - scene)`,
read as a haze of strength `h` toward a light of level `A` (the renderer draws exactly that
before its rim and highlight).

    python scripts/drop_census.py [--model lite] [--seeds 8] [--blur-sigma 1.5,9] [--scene-light 1,1.6] [--see-through 0.3,0.8 [--see-through-radius 8,20]]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from cli import parse_range  # noqa: E402
from scripts.synth_realism import drop_regions, luma  # noqa: E402
from stream_derain import Derainer  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.synth import RainConfig, read_rgb, synthesize  # noqa: E402

RADIUS_BINS = (3, 6, 12, 24, 80)
LIFT_BINS = (-255, 15, 30, 50, 255)
MIN_AREA = 20


@dataclass
class Drop:
    radius: float
    lift: float
    scene: float
    flatness: float
    contrast: float
    contrast_out: float
    edge: float
    saturation: float
    blue: float
    through: float
    through_out: float
    map: float
    removed: float


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; how much of the clean scene's fine detail the drop lets through."""
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / scale) if scale > 0 else float("nan")


def census(rain: np.ndarray, clean: np.ndarray, derainer: Derainer) -> list[Drop]:
    result = derainer.derain(rain)
    y_rain, y_clean, y_out = (luma(image) for image in (rain, clean, result.image))
    lift, left = y_rain - y_clean, y_out - y_clean

    def local_contrast(y: np.ndarray) -> np.ndarray:
        mean = cv2.blur(y, (7, 7))
        return np.sqrt(np.maximum(cv2.blur(y * y, (7, 7)) - mean * mean, 0))

    contrast_rain, contrast_clean, contrast_out = local_contrast(y_rain), local_contrast(y_clean), local_contrast(y_out)
    detail_rain, detail_clean, detail_out = (y - cv2.GaussianBlur(y, (0, 0), 2.0) for y in (y_rain, y_clean, y_out))
    slope = np.hypot(cv2.Sobel(lift, cv2.CV_64F, 1, 0), cv2.Sobel(lift, cv2.CV_64F, 0, 1)) / 8
    sat_rain, sat_clean = (cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 1].astype(np.float64) for image in (rain, clean))
    cb_shift = (cv2.cvtColor(rain, cv2.COLOR_RGB2YCrCb)[..., 2].astype(np.float64)
                - cv2.cvtColor(clean, cv2.COLOR_RGB2YCrCb)[..., 2].astype(np.float64))
    mask = drop_regions(rain, clean)
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(mask)
    drops = []
    for index in range(1, count):
        if boxes[index, cv2.CC_STAT_AREA] < MIN_AREA:
            continue
        inside = labels == index
        radius = float(np.sqrt(inside.sum() / np.pi))
        drop_lift = lift[inside]
        middle = inside & (depth >= max(1.0, float(depth[inside].max()) / 2))
        peak = float(np.percentile(drop_lift, 90))
        rim = inside & (depth <= 3)
        drops.append(Drop(
            radius=radius,
            lift=float(drop_lift.mean()),
            scene=float(y_clean[inside].mean()),
            flatness=float(lift[middle].mean() / peak) if peak > 1 else float("nan"),
            contrast=float(contrast_rain[inside].mean() / max(contrast_clean[inside].mean(), 1.0)),
            contrast_out=float(contrast_out[inside].mean() / max(contrast_clean[inside].mean(), 1.0)),
            edge=float(slope[rim].mean() / max(abs(drop_lift.mean()), 1.0)),
            saturation=float(sat_rain[inside].mean() / max(sat_clean[inside].mean(), 1.0)),
            blue=float(cb_shift[inside].mean()),
            through=correlation(detail_rain[inside], detail_clean[inside]),
            through_out=correlation(detail_out[inside], detail_clean[inside]),
            map=float(result.mask[inside].mean()),
            removed=float(1 - left[inside].mean() / drop_lift.mean()) if abs(drop_lift.mean()) > 1 else float("nan"),
        ))
    return drops


def context_check(rain: np.ndarray, clean: np.ndarray, derainer: Derainer) -> tuple[float, float]:
    """The map's mean inside the real drops in their own photo, and with those drops alone pasted
    onto the clean photo (their regions widened by 4 px): whether the rest of the frame is why."""
    drops = drop_regions(rain, clean).astype(bool)
    pasted = cv2.dilate(drops.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    alone = np.where(pasted[..., None], rain, clean)
    return float(derainer.derain(rain).mask[drops].mean()), float(derainer.derain(alone).mask[drops].mean())


def table(name: str, drops: list[Drop]) -> None:
    print(f"\n{name}: {len(drops)} drops")
    print(f"{'radius':>9} {'lift':>9} {'n':>5} {'map':>6} {'removed':>8} {'flatness':>9} {'contrast':>9} {'edge':>6} {'sat':>5} {'Cb':>5} {'through':>8} {'out-thru':>8} {'out-con':>8}")
    for r_low, r_high in zip(RADIUS_BINS, RADIUS_BINS[1:]):
        for l_low, l_high in zip(LIFT_BINS, LIFT_BINS[1:]):
            group = [d for d in drops if r_low <= d.radius < r_high and l_low <= d.lift < l_high]
            if not group:
                continue

            def mean(field: str) -> float:
                return float(np.nanmean([getattr(d, field) for d in group]))

            lift_label = f"<{l_high}" if l_low == LIFT_BINS[0] else f"{l_low}+" if l_high == LIFT_BINS[-1] else f"{l_low}-{l_high}"
            print(f"{r_low:>4}-{r_high:<4} {lift_label:>9} {len(group):5d} {mean('map'):6.2f} {mean('removed'):8.2f} "
                  f"{mean('flatness'):9.2f} {mean('contrast'):9.2f} {mean('edge'):6.3f} {mean('saturation'):5.2f} {mean('blue'):+5.1f} {mean('through'):8.2f} {mean('through_out'):8.2f} {mean('contrast_out'):8.2f}")
    lifts = np.array([d.lift for d in drops])
    slope, intercept = np.polyfit([d.scene for d in drops], lifts, 1)
    print(f"the drops' light: lift {lifts.mean():.1f} +- {lifts.std():.1f}; lift = h (A - scene) with h {-slope:.2f}, A {intercept / -slope:.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-raindrop")
    parser.add_argument("--model", default="lite")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--blur-sigma", default="1.5,9", help="LOW,HIGH: defocus of the rendered drops (run 33 trained on 1.5..9)")
    parser.add_argument("--scene-light", help="LOW,HIGH: the rendered drops' haze fades toward the frame's mean colour times this (RainConfig.scene_light); default: a bright grey")
    parser.add_argument("--see-through", help="LOW,HIGH: the share of each rendered drop's light that is the scene straight behind it (RainConfig.see_through); default: none")
    parser.add_argument("--see-through-radius", help="LOW,HIGH px: with --see-through, the share grows over these drop radii (RainConfig.see_through_radius)")
    args = parser.parse_args()
    pairs = args.real / "pairs"
    if not pairs.is_dir():
        print(f"skipped: {pairs} is absent (real photos are not part of the repo)")
        return 0
    scene_light = parse_range(args.scene_light, "scene-light") if args.scene_light else None
    see_through = parse_range(args.see_through, "see-through") if args.see_through else None
    see_through_radius = parse_range(args.see_through_radius, "see-through-radius") if args.see_through_radius else None
    config = RainConfig(blur_sigma=parse_range(args.blur_sigma, "blur-sigma"), veil=(0.0, 0.0), scene_light=scene_light,
                        see_through=see_through, see_through_radius=see_through_radius)
    try:
        derainer = Derainer(model=args.model, device="cpu", backend="torch")
    except DerainError as error:
        parser.error(str(error))
    real, rendered, contexts = [], [], []
    for rain_path in sorted((pairs / "rain").glob("*_rain.png")):
        index = rain_path.name.split("_")[0]
        rain, clean = read_rgb(rain_path), read_rgb(pairs / "clean" / f"{index}_clean.png")
        height, width = min(rain.shape[0], clean.shape[0]), min(rain.shape[1], clean.shape[1])
        rain, clean = rain[:height, :width], clean[:height, :width]
        real += census(rain, clean, derainer)
        contexts.append(context_check(rain, clean, derainer))
        for seed in range(args.seeds):
            sample = synthesize(clean, np.random.default_rng([seed, int(index)]), config)
            rendered += census(sample.rain, sample.clean, derainer)
    print("map inside the real drops, in their photo / alone on the clean photo:",
          ", ".join(f"{own:.2f} / {alone:.2f}" for own, alone in contexts))
    table("real pairs", real)
    table(f"rendered on the same clean photos ({args.seeds} seeds each, defocus {args.blur_sigma}, no veil)", rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
