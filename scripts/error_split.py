"""Where a model's error on paired photos lies: inside the drops, smooth or fine; or away from them.

Per pair, the output's Y error against clean is split four ways, each as its share of the
frame's squared error (its sum over those pixels over the frame's pixel count, so that they add
up to about the frame's MSE; the smooth and fine parts overlap a little). Inside the drops (the
paper's mask: the 5x5 local mean of |rain - clean| above 30): the error blurred with a Gaussian
of `--sigma` px where it is positive (lift the repair left) and where it is negative (its
overshoot), drop by drop, and what that blur leaves (detail and the glass's misalignment). Then
the error away from the drops, within 12 px of one (their halo and faint edges) and farther. `--floor P` raises the map to at least P inside the drops first
(an oracle, as in map_oracle.py); `--dry-far` sets it to dry (0.01) 12 px or more from any drop (an
oracle too: what the model's damage far from drops owes to its map firing there), and
`--branches-off` drops the gain-and-offset branches (models/coarse.py) and any detail gain, leaving the
gated residual;
`--passes N` adds each model run N times, each pass on the last one's output (with
`--branches-off`, also with the branches dropped from the later passes only; with `--dry-far`,
also with the map dry far from drops in every pass);
`--worst K` lists the K pairs whose far error is largest under the first model, with its map
there. The first row is the input; the second, the input with its
drops' smooth lift taken away (an oracle that knows clean: inside the drops, the blurred
difference to clean is subtracted), what a repair that got every drop's lift right and left
their detail alone would leave.

    python scripts/error_split.py ../shared/real-raindrop/pairs --model lite runs/restore-probe-detail/floor-0.75.pt --floor 0 0.75
    python scripts/error_split.py --judging-set 'soft, 9..16' --model lite

`--judging-set NAME` splits the error on one of the rendered sets the ship rule judges by
(scripts/judging_sets.py) instead, with the drops drawn as on the real pairs; `--set` changes that
set's data (`--set data.veil_chance=1`: the mixed set with every pair veiled).
"""

from __future__ import annotations

import argparse
import sys
from copy import deepcopy
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.judging_sets import JUDGING_SETS, judging_pairs  # noqa: E402
from scripts.map_oracle import floored  # noqa: E402
from stream_derain.checkpoint import load_model  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.evaluate import find_pairs, read_rgb8  # noqa: E402
from stream_derain.frames import crop_to, frames_to_tensor, pad_to_multiple  # noqa: E402
from stream_derain.metrics import luma  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from stream_derain.synth.mask import PAPER_THRESHOLD, local_difference  # noqa: E402
from train.trainer import as_frame  # noqa: E402


def photo_pairs(folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rain, clean) of each pair in a paired folder, cropped to their common size."""
    pairs = []
    for pair in find_pairs(folder):
        rain, clean = read_rgb8(pair.rain), read_rgb8(pair.clean)
        height, width = min(rain.shape[0], clean.shape[0]), min(rain.shape[1], clean.shape[1])
        pairs.append((rain[:height, :width], clean[:height, :width]))
    return pairs


NEAR = 12  # px: away from the drops, "near" is closer than this to one (their halo and faint edges)
# the map's logit where --dry-far dries it: probability 0.01, sure but not beyond what the decoder,
# which reads the map as an input, meets in training
DRY = float(np.log(0.01 / 0.99))


def far_from(drops: np.ndarray) -> np.ndarray:
    """Pixels at least NEAR px from every pixel of `drops`."""
    return cv2.distanceTransform((~drops).astype(np.uint8), cv2.DIST_L2, 5) >= NEAR


@torch.inference_mode()
def restored(generator: Generator, rain: np.ndarray, drops: np.ndarray, floor: float, dry_far: bool = False) -> np.ndarray:
    """The model's output for `rain`; with `floor` > 0, its map raised to that inside `drops`;
    with `dry_far`, its map set to dry far from them."""
    x, size = pad_to_multiple(frames_to_tensor(rain)[0].unsqueeze(0), generator.config.pad_multiple)
    logits = generator.attend(x)[-1]

    def padded(where: np.ndarray, padding: bool) -> torch.Tensor:
        full = torch.full(x.shape[-2:], padding)
        full[: where.shape[0], : where.shape[1]] = torch.from_numpy(where)
        return full

    if floor > 0:
        logits = floored(logits, padded(drops, False), floor)
    if dry_far:  # the padding too: it holds no drop, and the decoder reads it near the frame's edge
        logits = torch.where(padded(far_from(drops), True), torch.full_like(logits, DRY), logits)
    return as_frame(crop_to(generator.restore(x, logits), size)[0])


@torch.inference_mode()
def map_far(generator: Generator, rain: np.ndarray, drops: np.ndarray) -> tuple[float, float]:
    """The map's mean probability far from `drops`, and the share of those pixels where it is above 0.5."""
    x, size = pad_to_multiple(frames_to_tensor(rain)[0].unsqueeze(0), generator.config.pad_multiple)
    probability = torch.sigmoid(generator.attend(x)[-1])[0, 0, : size[0], : size[1]].numpy()
    far = far_from(drops)
    return float(probability[far].mean()), float((probability[far] > 0.5).mean())


def error_split(output: np.ndarray, clean: np.ndarray, drops: np.ndarray, sigma: float) -> np.ndarray:
    """Shares of the frame's squared Y error: in drops, smooth, where the output is brighter than
    clean (lift left) and darker (overshoot); in drops, fine; away from drops, near them and far."""
    error = luma(output).astype(np.float64) - luma(clean)
    inside = drops[: error.shape[0], : error.shape[1]]  # luma crops to a multiple of 4
    smooth = cv2.GaussianBlur(error, (0, 0), sigma)
    left, over = inside & (smooth > 0), inside & (smooth <= 0)
    far = far_from(inside)
    near = ~inside & ~far
    return np.array([(smooth[left] ** 2).sum(), (smooth[over] ** 2).sum(), ((error - smooth)[inside] ** 2).sum(),
                     (error[near] ** 2).sum(), (error[far] ** 2).sum()]) / error.size


def without_branches(generator: Generator) -> Generator:
    """A copy of `generator` with no gain-and-offset branches and no detail gain: the gated residual alone."""
    copy = deepcopy(generator)
    copy.autoencoder.coarse = copy.autoencoder.fine = copy.autoencoder.detail = None
    return copy


def lift_removed(rain: np.ndarray, clean: np.ndarray, drops: np.ndarray, sigma: float) -> np.ndarray:
    """The oracle: `rain` inside `drops` minus its difference to `clean` blurred by `sigma`."""
    lift = cv2.GaussianBlur(rain.astype(np.float32) - clean.astype(np.float32), (0, 0), sigma)
    return np.where(drops[..., None], np.clip(rain - lift + 0.5, 0, 255), rain).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("pairs", type=Path, nargs="?", help="a paired folder (Raindrop layout)")
    source.add_argument("--judging-set", choices=list(JUDGING_SETS), help="a rendered set of the ship rule instead")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="with --judging-set: change its data, as `derain train --set` does (e.g. data.veil_chance=1)")
    parser.add_argument("--model", nargs="+", default=["lite"])
    parser.add_argument("--floor", type=float, nargs="+", default=[0.0], help="0: the map as is")
    parser.add_argument("--dry-far", action="store_true", help=f"also each model with its map dry (0.01) {NEAR} px or more from drops (oracle)")
    parser.add_argument("--branches-off", action="store_true", help="also each model without its gain-and-offset branches")
    parser.add_argument("--passes", type=int, default=1, help="also each model run this many times, each pass on its own output")
    parser.add_argument("--worst", type=int, default=0, help="list the K pairs with the most error far from drops (first model)")
    parser.add_argument("--sigma", type=float, default=4.0, help="px: the blur that parts a smooth error from a fine one")
    args = parser.parse_args()
    if args.passes < 1:
        parser.error("--passes counts whole passes: 1 or more")
    if args.sigma <= 0:
        parser.error("--sigma is a blur in pixels, above 0")
    if args.overrides and not args.judging_set:
        parser.error("--set changes a rendered set: give --judging-set")
    try:
        if args.judging_set:
            photos = [(as_frame(pair["rain"]), as_frame(pair["clean"])) for pair in judging_pairs(args.judging_set, extra=args.overrides)]
        else:
            photos = photo_pairs(args.pairs)
        pairs = [(rain, clean, local_difference(rain, clean) > PAPER_THRESHOLD) for rain, clean in photos]
        models = {name: load_model(name).generator.eval() for name in args.model}
    except DerainError as error:
        parser.error(str(error))
    rows = [("input", np.mean([error_split(rain, clean, drops, args.sigma) for rain, clean, drops in pairs], axis=0)),
            ("input, drops' smooth lift removed (oracle)",
             np.mean([error_split(lift_removed(rain, clean, drops, args.sigma), clean, drops, args.sigma) for rain, clean, drops in pairs], axis=0))]
    splits = {}  # label: per-pair splits
    for name, generator in models.items():
        probes = [(floor, False, False) for floor in args.floor]
        probes += [(0.0, True, False)] * args.dry_far + [(0.0, False, True)] * args.branches_off
        probes += [(0.0, True, True)] * (args.dry_far and args.branches_off)
        for floor, dry_far, branches_off in probes:
            label = name + (f", floored at {floor}" if floor > 0 else "") + (", map dry far" if dry_far else "")
            label += ", branches off" if branches_off else ""
            model = without_branches(generator) if branches_off else generator
            splits[label] = [error_split(restored(model, rain, drops, floor, dry_far), clean, drops, args.sigma)
                             for rain, clean, drops in pairs]
            rows.append((label, np.mean(splits[label], axis=0)))
        later_passes = [(f"{name}, {args.passes} passes", generator, False)] if args.passes > 1 else []
        if later_passes and args.branches_off:
            later_passes.append((f"{name}, {args.passes} passes, later ones without branches", without_branches(generator), False))
        if later_passes and args.dry_far:
            later_passes.append((f"{name}, {args.passes} passes, map dry far in each", generator, True))
        first_passes = {}  # dry_far: the first pass's outputs, shared by the rows that start alike
        for label, later, dry_far in later_passes:
            if dry_far not in first_passes:
                first_passes[dry_far] = [restored(generator, rain, drops, 0.0, dry_far) for rain, _, drops in pairs]
            outputs = first_passes[dry_far]
            for _ in range(args.passes - 1):
                outputs = [restored(later, output, drops, 0.0, dry_far) for output, (_, _, drops) in zip(outputs, pairs)]
            splits[label] = [error_split(output, clean, drops, args.sigma) for output, (_, clean, drops) in zip(outputs, pairs)]
            rows.append((label, np.mean(splits[label], axis=0)))
    width = max(len(label) for label, _ in rows) + 2
    print(f"{'output':{width}}{'drops, smooth: lift left':>26}{'overshoot':>11}{'drops, fine':>13}"
          f"{f'away: <{NEAR} px':>14}{'farther':>9}{'MSE':>8}   (Y, mean over pairs)")
    for label, split in rows:
        print(f"{label:{width}}{split[0]:26.1f}{split[1]:11.1f}{split[2]:13.1f}{split[3]:14.1f}{split[4]:9.1f}{split.sum():8.1f}")
    if args.worst > 0:
        name, generator = next(iter(models.items()))
        as_is = splits.get(name) or [error_split(restored(generator, rain, drops, 0.0), clean, drops, args.sigma)
                                     for rain, clean, drops in pairs]
        far = [split[4] for split in as_is]
        print(f"\n{name}: the {args.worst} pairs with the most error far from drops")
        print(f"{'pair':>5}{'farther':>9}{'drops cover':>13}{'map there, mean':>17}{'share above 0.5':>17}")
        for index in np.argsort(far)[::-1][: args.worst]:
            rain, _, drops = pairs[index]
            mean, share = map_far(generator, rain, drops)
            print(f"{index:5d}{far[index]:9.1f}{drops.mean():13.2f}{mean:17.2f}{share:17.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
