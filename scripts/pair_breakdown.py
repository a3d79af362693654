"""Where a model gains or loses on paired photos: PSNR inside the drops and away from them.

The drops are where the rainy and clean photos differ: the 5x5 local mean of the channel-max
|rain - clean| above a threshold (the renderer's attention target, at the paper's 30 by
default). On real pairs that region also holds the glass's misalignment, so read it as
"where the glass changed the picture". Also printed: how much the model changes the pixels
its own attention map calls dry (map < 0.2), the leak of a gated residual: its mean absolute
change and its mean signed change (negative: the model darkens what it should leave alone), and,
for a model with gain-and-offset branches, the part of that signed change the branches make.
Inside the drops: how much brighter than clean the input is there (`lift`), how much of that the
model leaves (`left`), what it would leave with its branches off, the gated residual alone
(`gated`), and its attention map's mean (`map`); and the map's mean away from the drops
(`map out`): the false alarms a surer map may bring; and `AUC`, how well the map alone ranks
drop pixels above the rest (0.5: not at all; 1: every drop pixel above every other), which a map
that is merely bolder or shyer everywhere does not change.

    python scripts/pair_breakdown.py ../shared/real-raindrop/pairs [--model lite]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain import Derainer  # noqa: E402
from stream_derain.frames import crop_to, frames_to_tensor, pad_to_multiple, tensor_to_frames  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from stream_derain.evaluate import find_pairs, read_rgb8  # noqa: E402
from stream_derain.metrics import luma, psnr_y  # noqa: E402
from stream_derain.synth.mask import local_difference  # noqa: E402

DRY_MAP = 0.2


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of `score` for the boolean `label` (ties share their mean rank)."""
    score, label = score.ravel(), label.ravel()
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    positives = int(label.sum())
    negatives = label.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


@torch.inference_mode()
def without_branches(generator: Generator, rain: np.ndarray) -> np.ndarray | None:
    """The output with the gain-and-offset branches switched off (None if it has none)."""
    autoencoder = generator.autoencoder
    branches = autoencoder.coarse, autoencoder.fine
    if branches == (None, None):
        return None
    x, size = pad_to_multiple(frames_to_tensor(rain), generator.config.pad_multiple)
    mask = generator.attend(x)[-1]
    autoencoder.coarse = autoencoder.fine = None
    try:
        return tensor_to_frames(crop_to(autoencoder.restore(x, mask), size))[0]
    finally:
        autoencoder.coarse, autoencoder.fine = branches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--model", default="lite")
    parser.add_argument("--threshold", type=float, default=30)
    args = parser.parse_args()
    derainer = Derainer(model=args.model, device="cpu", backend="torch")
    print(f"{'pair':8} {'drops':>6} {'in: input':>10} {'model':>6} {'out: input':>11} {'model':>6} {'leak':>6} {'shift':>6} {'of it, branches':>16} {'lift':>6} {'left':>6} {'gated':>6} {'map':>5} {'map out':>8} {'AUC':>6}")
    for pair in find_pairs(args.pairs):
        rain, clean = read_rgb8(pair.rain), read_rgb8(pair.clean)
        result = derainer.derain(rain)
        y_rain, y_clean, y_out = (luma(image) for image in (rain, clean, result.image))
        height, width = y_rain.shape  # luma crops to a multiple of 4, as the protocol does
        drops = (local_difference(rain, clean) > args.threshold)[:height, :width]
        dry = result.mask[:height, :width] < DRY_MAP
        change = (y_out - y_rain)[dry] if dry.any() else np.full(1, np.nan)
        gated = without_branches(derainer.model.generator, rain)
        branches = (y_out - luma(gated))[dry].mean() if gated is not None and dry.any() else np.nan
        lift, left = (y_rain - y_clean)[drops].mean(), (y_out - y_clean)[drops].mean()
        gated_left = (luma(gated) - y_clean)[drops].mean() if gated is not None else np.nan
        print(
            f"{pair.name:8} {drops.mean():6.2f} {psnr_y(y_rain[drops], y_clean[drops]):10.2f} "
            f"{psnr_y(y_out[drops], y_clean[drops]):6.2f} {psnr_y(y_rain[~drops], y_clean[~drops]):11.2f} "
            f"{psnr_y(y_out[~drops], y_clean[~drops]):6.2f} {np.abs(change).mean():6.2f} {change.mean():+6.2f} {branches:+16.2f} "
            f"{lift:+6.1f} {left:+6.1f} {gated_left:+6.1f} {result.mask[:height, :width][drops].mean():5.2f} {result.mask[:height, :width][~drops].mean():8.2f} "
            f"{roc_auc(result.mask[:height, :width], drops):6.3f}"
        )


if __name__ == "__main__":
    main()
