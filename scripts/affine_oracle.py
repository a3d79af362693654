"""How much of the error on paired photos a smooth local gain and offset could remove.

A diagnostic, not a model: it reads the clean photo. At each radius R it fits, around every
pixel, the least-squares gain and offset that map the input's Y onto the clean Y over a
(2R+1)^2 box (a guided filter with the input as guide), smooths the fitted fields over the
same box and applies them. The gain over the input by the paper's protocol says how much of the
gap a coarse affine branch (models/coarse.py) could close at best, alone and after a model.

    python scripts/affine_oracle.py ../shared/real-raindrop/pairs [--model lite] [--radius 16 32 64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain import Derainer  # noqa: E402
from stream_derain.evaluate import find_pairs, read_rgb8  # noqa: E402
from stream_derain.metrics import luma, psnr_y  # noqa: E402

REGULARIZER = 25.0  # in grey levels squared: a flat box keeps a gain near 1 instead of fitting noise


def box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.blur(image, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def affine_fit(source: np.ndarray, target: np.ndarray, radius: int) -> np.ndarray:
    """`source` mapped by the locally fitted, smoothed gain and offset (both Y, float64)."""
    mean_s, mean_t = box(source, radius), box(target, radius)
    gain = (box(source * target, radius) - mean_s * mean_t) / (box(source * source, radius) - mean_s**2 + REGULARIZER)
    offset = mean_t - gain * mean_s
    return np.clip(np.rint(box(gain, radius) * source + box(offset, radius)), 0, 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--model", help="also fit after this model's output (a preset or a checkpoint)")
    parser.add_argument("--radius", type=int, nargs="+", default=[16, 32, 64])
    args = parser.parse_args()
    derainer = Derainer(args.model, backend="torch") if args.model else None
    rows = []
    for pair in find_pairs(args.pairs):
        rain, clean = read_rgb8(pair.rain), read_rgb8(pair.clean)
        sources = {"input": rain}
        if derainer:
            sources[args.model] = derainer(rain)
        rows.append({name: luma(image) for name, image in sources.items()} | {"clean": luma(clean)})
    base = [psnr_y(row["input"], row["clean"]) for row in rows]
    for name in rows[0]:
        if name == "clean":
            continue
        gains = [psnr_y(row[name], row["clean"]) - b for row, b in zip(rows, base)]
        print(f"{name:>12} as it is:   " + " ".join(f"{g:+.2f}" for g in gains) + f"   mean {np.mean(gains):+.2f} dB")
        for radius in args.radius:
            gains = [psnr_y(affine_fit(row[name], row["clean"], radius), row["clean"]) - b for row, b in zip(rows, base)]
            print(f"{name:>12} + affine {radius:>3}: " + " ".join(f"{g:+.2f}" for g in gains) + f"   mean {np.mean(gains):+.2f} dB")


if __name__ == "__main__":
    main()
