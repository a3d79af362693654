"""How domed drops look: the curvature of the rain photo's smooth look over each drop, real and rendered.

A drop's look is the quadratic surface fitted to the rain photo's Y over the drop widened by 3 px
(drop_parts.quadratic_terms, the same fit `dome_swap.py` swaps); its curvature is the sum of the
`u²` and `v²` coefficients: negative for a dome, brighter in the middle than at its rim and around
it; 0 for a flat look. Printed per radius bin, for drops lifted by 30 or more, beside the same
curvature of the clean photo under them. No model is run. Each `--render` is one renderer form,
RainConfig's ranges as NAME=LOW:HIGH (or one number as NAME=VALUE) joined by commas (on top of defocus 1.5..9 and no veil):

    python scripts/look_curvature.py [--seeds 2] [--render scene_light=1:1.6] [--render rim=0:0,highlight=0:0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.drop_census import MIN_AREA, RADIUS_BINS  # noqa: E402
from scripts.drop_parts import BAND, quadratic_terms, real_pairs  # noqa: E402
from scripts.synth_realism import drop_regions, luma  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.synth import RainConfig, synthesize  # noqa: E402

MIN_LIFT = 30


def curvatures(rain: np.ndarray, clean: np.ndarray) -> list[tuple[float, float, float]]:
    """(radius, the look's curvature, the clean scene's curvature) of each drop lifted by MIN_LIFT or more."""
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(drop_regions(rain, clean))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND + 1, 2 * BAND + 1))
    y_rain, y_clean = luma(rain), luma(clean)
    found = []
    for index in range(1, count):
        inside = labels == index
        if boxes[index, cv2.CC_STAT_AREA] < MIN_AREA or (y_rain - y_clean)[inside].mean() < MIN_LIFT:
            continue
        ys, xs = np.nonzero(cv2.dilate(inside.astype(np.uint8), kernel))
        terms = quadratic_terms(ys, xs)
        look, *_ = np.linalg.lstsq(terms, y_rain[ys, xs], rcond=None)
        scene, *_ = np.linalg.lstsq(terms, y_clean[ys, xs], rcond=None)
        found.append((float(np.sqrt(inside.sum() / np.pi)), float(look[3] + look[5]), float(scene[3] + scene[5])))
    return found


def render_form(text: str) -> dict[str, float | tuple[float, float]]:
    """NAME=LOW:HIGH (a range) or NAME=VALUE, joined by commas, as RainConfig's keywords."""
    form: dict[str, float | tuple[float, float]] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        low, colon, high = value.partition(":")
        form[name.strip()] = (float(low), float(high)) if colon else float(low)
    return form


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-raindrop")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--render", action="append", default=[], help="NAME=LOW:HIGH or NAME=VALUE[,...]: a renderer form beside the default")
    args = parser.parse_args()
    photos = real_pairs(args.real)
    if photos is None:
        return 0
    try:
        forms = {"rendered": RainConfig(blur_sigma=(1.5, 9), veil=(0.0, 0.0))} | {
            text: RainConfig(**({"blur_sigma": (1.5, 9), "veil": (0.0, 0.0)} | render_form(text))) for text in args.render}
    except (TypeError, ValueError, DerainError) as error:
        parser.error(f"--render: {error}")
    found: dict[str, list[tuple[float, float, float]]] = {"real": []} | {name: [] for name in forms}
    for index, rain, clean in photos:
        found["real"] += curvatures(rain, clean)
        for name, config in forms.items():
            for seed in range(args.seeds):
                found[name] += curvatures(synthesize(clean, np.random.default_rng([seed, index]), config).rain, clean)
    bins = list(zip(RADIUS_BINS, RADIUS_BINS[1:]))
    print(f"look's curvature (scene's under it), drops lifted by {MIN_LIFT}+, by radius: " + "   ".join(f"{low}..{high} px" for low, high in bins))
    for name, rows in found.items():
        table = np.array(rows).reshape(-1, 3)
        cells = []
        for low, high in bins:
            group = table[(table[:, 0] >= low) & (table[:, 0] < high)]
            cells.append(f"{group[:, 1].mean():+7.1f} ({group[:, 2].mean():+6.1f}) n{len(group)}" if len(group) else "-")
        print(f"{name}: " + "   ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
