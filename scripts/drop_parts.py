"""Which part of a drop the map answers to: each drop taken apart, on real and rendered drops alike.

A drop is what it adds to the clean photo, D = rain - clean, split into three parts: its lift
(D blurred at sigma 2: the smooth shape of its brightening), its inner detail (the rest of D more
than 3 px inside its outline: the scene's fine detail it hides or bends, its own texture) and its
outline (the rest of D within 3 px of its edge, on both sides: rim, refraction edge, highlight).
Every drop of a photo is rebuilt from a chosen set of parts, `clean + parts`, and the map's mean
inside each drop is read as in `drop_census.py` (same drops, same radius and lift bins). Variants:

  as is      rain itself
  -outline   clean + lift + inner detail
  -inner     clean + lift + outline: the scene's own detail shows through the whole inside
  -lift      clean + inner detail + outline
  opaque     clean + lift + outline, with the scene's fine detail inside taken away (as an opaque
             rendered drop hides it): the real drops' inside given the rendered drops' kind
  dome       clean + the drop's quadratic fit: its lift as one smooth surface, the scene whole
  dome/flat  the same over the scene's mean colour there: the scene hidden behind the dome
  plateau    clean + the dome's mean over the drop widened by 3 px: an even lift with no shape

`doming` is how far a drop's own quadratic fit departs from its mean lift (its standard deviation
inside the drop over the mean lift): a flat plateau is 0.
The real pairs of ../shared/real-raindrop are read for evaluation only; rendered drops are drawn
onto the same clean photos, as in `drop_census.py`.

    python scripts/drop_parts.py [--model lite] [--seeds 4] [--blur-sigma 1.5,9]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from cli import parse_range  # noqa: E402
from scripts.drop_census import LIFT_BINS, MIN_AREA, RADIUS_BINS  # noqa: E402
from scripts.synth_realism import drop_regions, luma  # noqa: E402
from stream_derain import Derainer  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.synth import RainConfig, read_rgb, synthesize  # noqa: E402

LIFT_SIGMA = 2.0
BAND = 3  # px each side of the outline


def quadratic_terms(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """1, u, v, u², uv, v² at those pixels, centred on them and scaled by their radius: the
    same coefficients then mean the same shape on drops of any size and place."""
    u, v = ys - ys.mean(), xs - xs.mean()
    scale = max(float(np.sqrt(len(ys) / np.pi)), 1.0)
    u, v = u / scale, v / scale
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], 1)


def quadratic_fit(layer: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The least-squares quadratic surface through `layer` at those pixels, per channel: a drop's
    lift as a smooth dome (or bowl, or tilt), free of any structure smaller than the drop."""
    terms = quadratic_terms(ys, xs)
    coefficients, *_ = np.linalg.lstsq(terms, layer[ys, xs], rcond=None)
    return terms @ coefficients


@dataclass
class Parts:
    """A photo's drops as float RGB layers over its clean photo, and where each lies."""

    lift: np.ndarray  # the layer blurred at LIFT_SIGMA
    inner: np.ndarray  # the rest, more than BAND px inside the outline
    outline: np.ndarray  # the rest, within BAND px of it
    scene_detail: np.ndarray  # the clean photo's own fine detail where `inner` lies
    dome: np.ndarray  # each drop's quadratic fit (over its region)
    flat_scene: np.ndarray  # the clean photo's mean colour over each drop, less the clean photo
    region: np.ndarray  # the drops widened by BAND px: every variant changes only this


def take_apart(rain: np.ndarray, clean: np.ndarray, labels: np.ndarray, drops: list[int]) -> Parts:
    """The parts of the drops `drops` (labels of `labels`); where two drops' regions overlap, the
    later drop's dome is the one kept there."""
    scene = clean.astype(np.float64)
    layer = rain.astype(np.float64) - scene
    lift = cv2.GaussianBlur(layer, (0, 0), LIFT_SIGMA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND + 1, 2 * BAND + 1))
    mask = np.isin(labels, drops).astype(np.uint8)
    inside = cv2.erode(mask, kernel).astype(bool)
    region = cv2.dilate(mask, kernel).astype(bool)
    outline = region & ~inside
    dome, flat_scene = np.zeros_like(layer), np.zeros_like(layer)
    for index in drops:
        ys, xs = np.nonzero(cv2.dilate((labels == index).astype(np.uint8), kernel))
        dome[ys, xs] = quadratic_fit(layer, ys, xs)
        flat_scene[ys, xs] = scene[ys, xs].mean(0) - scene[ys, xs]
    return Parts(lift=lift, inner=(layer - lift) * inside[..., None], outline=(layer - lift) * outline[..., None],
                 scene_detail=(scene - cv2.GaussianBlur(scene, (0, 0), LIFT_SIGMA)) * inside[..., None],
                 dome=dome, flat_scene=flat_scene, region=region)


VARIANTS: dict[str, Callable[[Parts], np.ndarray]] = {
    "-outline": lambda p: p.lift + p.inner,
    "-inner": lambda p: p.lift + p.outline,
    "-lift": lambda p: p.inner + p.outline,
    "opaque": lambda p: p.lift + p.outline - p.scene_detail,
    "dome": lambda p: p.dome,
    "dome/flat": lambda p: p.dome + p.flat_scene,
    "plateau": lambda p: np.where(p.region[..., None], _plateaus(p), 0),
}


def _plateaus(parts: Parts) -> np.ndarray:
    """Each drop's mean lift, even over its region: the dome's mean without its shape."""
    count, labels = cv2.connectedComponents(parts.region.astype(np.uint8))
    plateau = np.zeros_like(parts.dome)
    for index in range(1, count):
        inside = labels == index
        plateau[inside] = parts.dome[inside].mean(0)
    return plateau


def rebuilt(rain: np.ndarray, clean: np.ndarray, layers: np.ndarray, region: np.ndarray) -> np.ndarray:
    """`clean + layers` over the drops' region; the photo as it was everywhere else."""
    image = np.clip(np.rint(clean.astype(np.float64) + layers), 0, 255).astype(np.uint8)
    return np.where(region[..., None], image, rain)


def drop_maps(rain: np.ndarray, clean: np.ndarray, derainer: Derainer) -> tuple[list[tuple[float, float, float]], dict[str, list[float]]]:
    """Each drop's (radius, lift, doming), and the map's mean inside it for every variant.
    Doming is the spread of the drop's quadratic fit inside it over its mean lift (Y)."""
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(drop_regions(rain, clean))
    drops = [index for index in range(1, count) if boxes[index, cv2.CC_STAT_AREA] >= MIN_AREA]
    lift = luma(rain) - luma(clean)
    parts = take_apart(rain, clean, labels, drops)
    dome_y = parts.dome @ np.array([0.299, 0.587, 0.114])
    sizes = []
    for index in drops:
        inside = labels == index
        mean_lift = float(lift[inside].mean())
        sizes.append((float(np.sqrt(inside.sum() / np.pi)), mean_lift, float(dome_y[inside].std() / max(abs(mean_lift), 1.0))))
    images = {"as is": rain} | {name: rebuilt(rain, clean, make(parts), parts.region) for name, make in VARIANTS.items()}
    maps = {}
    for name, image in images.items():
        attention = derainer.derain(image).mask
        maps[name] = [float(attention[labels == index].mean()) for index in drops]
    return sizes, maps


def table(name: str, sizes: list[tuple[float, ...]], maps: dict[str, list[float]]) -> None:
    """The map per radius and lift bin; `sizes` are (radius, lift) or (radius, lift, doming)."""
    print(f"\n{name}: {len(sizes)} drops; the map's mean inside them")
    with_doming = bool(sizes) and len(sizes[0]) == 3
    print(f"{'radius':>9} {'lift':>9} {'n':>5}" + (f" {'doming':>7}" if with_doming else "") + "".join(f"{variant:>{max(10, len(variant) + 2)}}" for variant in maps))
    columns = np.array(sizes).T if sizes else np.zeros((3, 0))
    radius, lift = columns[0], columns[1]
    for r_low, r_high in zip(RADIUS_BINS, RADIUS_BINS[1:]):
        for l_low, l_high in zip(LIFT_BINS, LIFT_BINS[1:]):
            group = (radius >= r_low) & (radius < r_high) & (lift >= l_low) & (lift < l_high)
            if not group.any():
                continue
            lift_label = f"<{l_high}" if l_low == LIFT_BINS[0] else f"{l_low}+" if l_high == LIFT_BINS[-1] else f"{l_low}-{l_high}"
            print(f"{r_low:>4}-{r_high:<4} {lift_label:>9} {int(group.sum()):5d}" + (f" {columns[2][group].mean():7.2f}" if with_doming else "")
                  + "".join(f"{np.mean(np.array(values)[group]):>{max(10, len(variant) + 2)}.2f}" for variant, values in maps.items()))


def real_pairs(real: Path) -> list[tuple[int, np.ndarray, np.ndarray]] | None:
    """Each rain photo of `real`/pairs with its clean one, cropped to their common size; None (and
    a line saying so) where the real photos are absent."""
    pairs = real / "pairs"
    if not pairs.is_dir():
        print(f"skipped: {pairs} is absent (real photos are not part of the repo)")
        return None
    photos = []
    for rain_path in sorted((pairs / "rain").glob("*_rain.png")):
        index = int(rain_path.name.split("_")[0])
        rain, clean = read_rgb(rain_path), read_rgb(pairs / "clean" / f"{index}_clean.png")
        height, width = min(rain.shape[0], clean.shape[0]), min(rain.shape[1], clean.shape[1])
        photos.append((index, rain[:height, :width], clean[:height, :width]))
    return photos


def study_setup(description: str, seeds: int) -> tuple[argparse.Namespace, RainConfig, Derainer, list[tuple[int, np.ndarray, np.ndarray]]] | None:
    """The command line this study and `dome_swap.py` share: the model, the rendered drops' defocus
    and the real pairs (`real_pairs`); None where the real photos are absent."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-raindrop")
    parser.add_argument("--model", default="lite")
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--blur-sigma", default="1.5,9", help="LOW,HIGH: defocus of the rendered drops (run 33 trained on 1.5..9)")
    args = parser.parse_args()
    photos = real_pairs(args.real)
    if photos is None:
        return None
    config = RainConfig(blur_sigma=parse_range(args.blur_sigma, "blur-sigma"), veil=(0.0, 0.0))
    try:
        derainer = Derainer(model=args.model, device="cpu", backend="torch")
    except DerainError as error:
        parser.error(str(error))
    return args, config, derainer, photos


def main() -> int:
    setup = study_setup(__doc__.splitlines()[0], seeds=4)
    if setup is None:
        return 0
    args, config, derainer, photos = setup
    found: dict[str, tuple[list, dict[str, list[float]]]] = {"real pairs": ([], {}), "rendered": ([], {})}

    def add(kind: str, rain: np.ndarray, clean: np.ndarray) -> None:
        sizes, maps = drop_maps(rain, clean, derainer)
        found[kind][0].extend(sizes)
        for variant, values in maps.items():
            found[kind][1].setdefault(variant, []).extend(values)

    for index, rain, clean in photos:
        add("real pairs", rain, clean)
        for seed in range(args.seeds):
            sample = synthesize(clean, np.random.default_rng([seed, index]), config)
            add("rendered", sample.rain, sample.clean)
    table("real pairs", *found["real pairs"])
    table(f"rendered on the same clean photos ({args.seeds} seeds each, defocus {args.blur_sigma}, no veil)", *found["rendered"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
