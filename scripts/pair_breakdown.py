"""Where a model gains or loses on paired photos: PSNR inside the drops and away from them.

The drops are where the rainy and clean photos differ: the 5x5 local mean of the channel-max
|rain - clean| above a threshold (the renderer's attention target, at the paper's 30 by
default). On real pairs that region also holds the glass's misalignment, so read it as
"where the glass changed the picture". Also printed: how much the model changes the pixels
its own attention map calls dry (map < 0.2), the leak of a gated residual: its mean absolute
change and its mean signed change (negative: the model darkens what it should leave alone).

    python scripts/pair_breakdown.py ../shared/real-raindrop/pairs [--model lite]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain import Derainer  # noqa: E402
from stream_derain.evaluate import find_pairs, read_rgb8  # noqa: E402
from stream_derain.metrics import luma, psnr_y  # noqa: E402
from stream_derain.synth.mask import local_difference  # noqa: E402

DRY_MAP = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--model", default="lite")
    parser.add_argument("--threshold", type=float, default=30)
    args = parser.parse_args()
    derainer = Derainer(model=args.model, device="cpu", backend="torch")
    print(f"{'pair':8} {'drops':>6} {'in: input':>10} {'model':>6} {'out: input':>11} {'model':>6} {'leak':>6} {'shift':>6}")
    for pair in find_pairs(args.pairs):
        rain, clean = read_rgb8(pair.rain), read_rgb8(pair.clean)
        result = derainer.derain(rain)
        y_rain, y_clean, y_out = (luma(image) for image in (rain, clean, result.image))
        height, width = y_rain.shape  # luma crops to a multiple of 4, as the protocol does
        drops = (local_difference(rain, clean) > args.threshold)[:height, :width]
        dry = result.mask[:height, :width] < DRY_MAP
        change = (y_out - y_rain)[dry] if dry.any() else np.full(1, np.nan)
        print(
            f"{pair.name:8} {drops.mean():6.2f} {psnr_y(y_rain[drops], y_clean[drops]):10.2f} "
            f"{psnr_y(y_out[drops], y_clean[drops]):6.2f} {psnr_y(y_rain[~drops], y_clean[~drops]):11.2f} "
            f"{psnr_y(y_out[~drops], y_clean[~drops]):6.2f} {np.abs(change).mean():6.2f} {change.mean():+6.2f}"
        )


if __name__ == "__main__":
    main()
