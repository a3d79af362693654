"""Compare rendered drops with real ones: numbers and a side-by-side picture for docs/SYNTH.md.

The real photos (../shared/real-raindrop, evaluation only) are never copied into the repo; the
figure shows them downscaled beside drops rendered onto the same clean scenes.

    python scripts/synth_realism.py [--real ../shared/real-raindrop] [--seeds 8] [--blur-sigma 1.5,6] [--rim 0.1,0.4] [--highlight 0.05,0.35] [--figure docs/synth_real_vs_rendered.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli import parse_range  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.synth import RainConfig, paper_mask, read_rgb, synthesize  # noqa: E402


def luma(rgb: np.ndarray) -> np.ndarray:
    """Y of OpenCV's BGR->YCrCb, the paper's evaluation channel."""
    return cv2.cvtColor(rgb[..., ::-1], cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float64)


def y_psnr(rain: np.ndarray, clean: np.ndarray) -> float:
    height, width = (min(rain.shape[0], clean.shape[0]) // 4) * 4, (min(rain.shape[1], clean.shape[1]) // 4) * 4
    error = np.mean((luma(rain[:height, :width]) - luma(clean[:height, :width])) ** 2)
    return float(10 * np.log10(255**2 / error))


def drop_regions(rain: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Drops as the paper's mask sees them, cleaned of misalignment specks."""
    mask = paper_mask(rain, clean).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))


GRAIN_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)


def stats(rain: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    mask = drop_regions(rain, clean)
    count, _, boxes, _ = cv2.connectedComponentsWithStats(mask)
    areas = boxes[1:, cv2.CC_STAT_AREA]
    radii = np.sqrt(areas[areas >= 20] / np.pi)
    y_rain, y_clean = luma(rain), luma(clean)

    def local_contrast(y: np.ndarray) -> np.ndarray:
        mean = cv2.blur(y, (7, 7))
        return np.sqrt(np.maximum(cv2.blur(y * y, (7, 7)) - mean * mean, 0))

    def sharpness(y: np.ndarray) -> np.ndarray:
        return np.abs(cv2.Laplacian(y, cv2.CV_64F))

    def grain(y: np.ndarray, region: np.ndarray) -> float:
        """Immerkaer's noise estimate (a Laplacian-difference kernel) over the flattest 30% of
        `region`, where little of the scene's own texture is left to pass for grain."""
        if not region.any():
            return 0.0
        response = np.abs(cv2.filter2D(y, cv2.CV_64F, GRAIN_KERNEL))
        gradient = np.hypot(cv2.Sobel(y, cv2.CV_64F, 1, 0), cv2.Sobel(y, cv2.CV_64F, 0, 1))
        flat = region & (gradient <= np.percentile(gradient[region], 30))
        return float(np.sqrt(np.pi / 2) / 6 * response[flat].mean())

    inside = mask.astype(bool)
    # the drops' shading: lift at their edges (within 3 px of the outline) against their middles
    # (over 6 px in), and how far their brightest spots stand above their median lift
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    lift = y_rain - y_clean
    edge, middle = inside & (depth <= 3), depth > 6
    outside = ~cv2.dilate(mask, np.ones((15, 15), np.uint8)).astype(bool)
    c_rain, c_clean = local_contrast(y_rain), local_contrast(y_clean)
    s_rain, s_clean = sharpness(y_rain), sharpness(y_clean)
    # the pane away from drops, as a line: rain = gain * clean + offset (a veil toward grey g has
    # gain 1 - v and lifts pixels darker than g, lowers brighter ones)
    pane_gain, pane_offset = np.polyfit(y_clean[outside], y_rain[outside], 1)
    # the drops' colour: how they move chroma (OpenCV's Cr and Cb, 128 = grey) and saturation
    ycc_rain, ycc_clean = (cv2.cvtColor(image[..., ::-1], cv2.COLOR_BGR2YCrCb).astype(np.float64) for image in (rain, clean))
    sat_rain, sat_clean = (cv2.cvtColor(image[..., ::-1], cv2.COLOR_BGR2HSV)[..., 1].astype(np.float64) for image in (rain, clean))
    return {
        "psnr": y_psnr(rain, clean),
        "coverage": float(inside.mean()),
        "drops": float(len(radii)),
        "radius_median": float(np.median(radii)) if len(radii) else 0.0,
        "radius_p90": float(np.percentile(radii, 90)) if len(radii) else 0.0,
        "contrast_in": float(c_rain[inside].mean() / max(c_clean[inside].mean(), 1e-6)) if inside.any() else 1.0,
        "contrast_out": float(c_rain[outside].mean() / max(c_clean[outside].mean(), 1e-6)),
        "sharpness_in": float(s_rain[inside].mean() / max(s_clean[inside].mean(), 1e-6)) if inside.any() else 1.0,
        "brightening_in": float((y_rain - y_clean)[inside].mean()) if inside.any() else 0.0,
        "rim_dip_in": float(lift[middle].mean() - lift[edge].mean()) if middle.any() and edge.any() else 0.0,
        "hot_spots_in": float(np.percentile(lift[inside], 99) - np.median(lift[inside])) if inside.any() else 0.0,
        "grain_in": grain(y_rain, inside),
        "grain_out": grain(y_rain, outside),
        "cr_shift_in": float((ycc_rain[..., 1] - ycc_clean[..., 1])[inside].mean()) if inside.any() else 0.0,
        "cb_shift_in": float((ycc_rain[..., 2] - ycc_clean[..., 2])[inside].mean()) if inside.any() else 0.0,
        "saturation_in": float(sat_rain[inside].mean() / max(sat_clean[inside].mean(), 1e-6)) if inside.any() else 1.0,
        "pane_gain_out": float(pane_gain),
        "pane_offset_out": float(pane_offset),
        "shift_out": float((y_rain - y_clean)[outside].mean()),
    }


def mean_stats(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def small(image: np.ndarray, width: int) -> np.ndarray:
    height = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def label(image: np.ndarray, text: str) -> np.ndarray:
    image = image.copy()
    cv2.putText(image, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def write_png(path: Path, rgb: np.ndarray) -> None:
    # Dropping the three lowest bits per channel halves the PNG's size; it shows little at this size.
    cv2.imwrite(str(path), (rgb & 0xF8)[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-raindrop")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--figure-width", type=int, default=300)
    parser.add_argument("--figure-pairs", default="1,3", help="which real pairs the figure shows")
    parser.add_argument("--blur-sigma", default=",".join(map(str, RainConfig().blur_sigma)),
                        help="LOW,HIGH: defocus of the out-of-focus drops (a recipe's data.blur_sigma)")
    parser.add_argument("--veil-level", default=None,
                        help="LOW,HIGH: the grey the veil fades toward (a recipe's data.veil_level); default: the airlight")
    parser.add_argument("--haze", default=",".join(map(str, RainConfig().haze)),
                        help="LOW,HIGH: how far a drop's view fades toward its bright airlight")
    parser.add_argument("--magnification", default=",".join(map(str, RainConfig().magnification)),
                        help="LOW,HIGH: how much wider than a drop its inverted view of the scene is")
    parser.add_argument("--sensor-noise", default=None, help="LOW,HIGH: the camera's grain (sigma, grey levels); default: none")
    parser.add_argument("--rim", default=",".join(map(str, RainConfig().rim)), help="LOW,HIGH: darkening at the drops' rims")
    parser.add_argument("--highlight", default=",".join(map(str, RainConfig().highlight)), help="LOW,HIGH: the drops' specular highlights")
    args = parser.parse_args()
    pairs = args.real / "pairs"
    if not pairs.is_dir():
        print(f"skipped: {pairs} is absent (real photos are not part of the repo)")
        return 0
    try:
        level = None if args.veil_level is None else parse_range(args.veil_level, "veil-level")
        grain = None if args.sensor_noise is None else parse_range(args.sensor_noise, "sensor-noise")
        config = RainConfig(blur_sigma=parse_range(args.blur_sigma, "blur-sigma"), veil_level=level,
                            haze=parse_range(args.haze, "haze"), magnification=parse_range(args.magnification, "magnification"),
                            sensor_noise=grain, rim=parse_range(args.rim, "rim"), highlight=parse_range(args.highlight, "highlight"))
    except DerainError as error:
        parser.error(str(error))
    real_rows, rendered_rows, figure_rows = [], [], []
    for rain_path in sorted((pairs / "rain").glob("*_rain.png")):
        index = rain_path.name.split("_")[0]
        rain, clean = read_rgb(rain_path), read_rgb(pairs / "clean" / f"{index}_clean.png")
        real_rows.append(stats(rain, clean))
        samples = [synthesize(clean, np.random.default_rng([seed, int(index)]), config) for seed in range(args.seeds)]
        rendered_rows += [stats(s.rain, s.clean) for s in samples]
        if args.figure is not None and index in args.figure_pairs.split(","):
            width = args.figure_width
            figure_rows.append(np.hstack([
                label(small(rain, width), f"real {index}_rain"),
                label(small(samples[0].rain, width), "rendered, seed 0"),
                label(small(samples[1].rain, width), "rendered, seed 1"),
            ]))
    real, rendered = mean_stats(real_rows), mean_stats(rendered_rows)
    print(f"{'measure':16} {'real':>8} {'rendered':>9}   (means over {len(real_rows)} real pairs, {len(rendered_rows)} renders)")
    for key in real:
        print(f"{key:16} {real[key]:8.3f} {rendered[key]:9.3f}")
    print("real per pair Y-PSNR:", " ".join(f"{row['psnr']:.2f}" for row in real_rows))
    # where the pane's line crosses rain = clean: the grey a veil of that pane fades toward
    print("real per pair, pane crossing (Y):", " ".join(
        f"{row['pane_offset_out'] / (1 - row['pane_gain_out']):.0f}" for row in real_rows))
    psnrs = np.array([row["psnr"] for row in rendered_rows])
    print(f"rendered Y-PSNR: mean {psnrs.mean():.2f}, median {np.median(psnrs):.2f}, 10-90% {np.percentile(psnrs, 10):.2f}..{np.percentile(psnrs, 90):.2f}")
    if args.figure is not None:
        write_png(args.figure, np.vstack(figure_rows))
        print(f"wrote {args.figure} ({args.figure.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
