"""Score models on a recipe's held-out rendered pairs: the trainer's own validation, outside a run.

    python scripts/val_score.py --recipe train/recipes/lite.toml lite runs/lite-stage2/best.pt
    python scripts/val_score.py --recipe train/recipes/lite-stage2.toml lite runs/lite-stage2/best.pt
    python scripts/val_score.py --recipe train/recipes/lite.toml --set 'data.blur_sigma=[9,14]' lite
    python scripts/val_score.py --recipe train/recipes/lite.toml --set 'data.rim=[0,0]' --drops lite
    python scripts/val_score.py --judging-set 'soft, 9..16' lite runs/lite-v33/best.pt
    python scripts/val_score.py --judging-set 'bright-veil mixed' --passes 2 runs/lite-v88/best.pt

Renders the pairs exactly as the trainer does (the recipe's sources, drops and seeds), so models
trained on different renderer settings can be compared on each other's validation sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.judging_sets import JUDGING_SETS, PAIRS, RECIPES  # noqa: E402
from scripts.repeated import Repeated  # noqa: E402
from stream_derain.checkpoint import load_model  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.frames import crop_to, pad_to_multiple  # noqa: E402
from stream_derain.metrics import luma  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from train.config import load_config  # noqa: E402
from train.trainer import as_frame, build_datasets, identity_scores, validate, validation_pairs  # noqa: E402


@torch.inference_mode()
def inside_drops(generator: Generator, pairs: list[dict], device: torch.device) -> tuple[float, float, float]:
    """Inside each pair's target mask, means over the pairs: the map, how much brighter than clean
    the input is (Y levels) and how much of that the output leaves."""
    maps, lifts, lefts = [], [], []
    generator.eval()
    for pair in pairs:
        target = pair["mask"][0].numpy() > 0.5
        if not target.any():
            continue
        x, size = pad_to_multiple(pair["rain"].unsqueeze(0).to(device), generator.config.pad_multiple)
        out = generator(x)
        logits = crop_to(out.masks[-1], size)[0, 0].float().cpu()
        attention = torch.sigmoid(logits) if generator.config.gate else logits.clamp(0, 1)
        rain, clean, restored = (luma(as_frame(image)) for image in (pair["rain"], pair["clean"], crop_to(out.output, size)[0]))
        height, width = clean.shape  # luma crops to a multiple of 4, as the protocol does
        target = target[:height, :width]
        maps.append(float(attention.numpy()[:height, :width][target].mean()))
        lifts.append(float((rain - clean)[target].mean()))
        lefts.append(float((restored - clean)[target].mean()))
    return float(np.mean(maps)), float(np.mean(lifts)), float(np.mean(lefts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="presets (lite, full) or checkpoint files")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--recipe", type=Path, help="whose validation pairs to score on")
    source.add_argument("--judging-set", choices=list(JUDGING_SETS),
                        help=f"one of the sets the ship rule judges by, {PAIRS} pairs (scripts/judging_sets.py)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="change the recipe's data, as `derain train --set` does (e.g. data.blur_sigma=[9,14])")
    parser.add_argument("--drops", action="store_true",
                        help="also print, inside the drops' target mask, the map's mean and the input's and output's lift above clean")
    parser.add_argument("--device", default="cpu", help="where the models run (cpu, cuda); the pairs render on the CPU either way")
    parser.add_argument("--passes", type=int, default=1, help="run each model this many times, each on its own output")
    args = parser.parse_args()
    if args.passes < 1:
        parser.error("--passes counts whole passes: 1 or more")
    if args.judging_set:
        recipe, overrides = JUDGING_SETS[args.judging_set]
        args.recipe, args.overrides = RECIPES / recipe, [f"data.val_pairs={PAIRS}", *overrides, *args.overrides]
    try:
        config = load_config(args.recipe, args.overrides)
        _, val_set, _ = build_datasets(config.data, config.run.seed)
        pairs = validation_pairs(val_set, config.data.val_pairs)
        identity = identity_scores(pairs)
        passes = f", {args.passes} passes" if args.passes > 1 else ""
        print(f"{args.recipe}{''.join(' --set ' + item for item in args.overrides)}: {len(pairs)} held-out pairs{passes}")
        print(f"{'model':40} {'PSNR':>7} {'SSIM':>7}" + (f" {'map in':>7} {'lift':>6} {'left':>6}" if args.drops else ""))
        print(f"{'input (identity)':40} {identity.psnr:7.2f} {identity.ssim:7.4f}")
        device = torch.device(args.device)
        for name in args.models:
            generator = load_model(name).generator.to(device)
            if args.passes > 1:
                generator = Repeated(generator, args.passes)
            scores, _ = validate(generator, pairs, device)
            drops = "" if not args.drops else "{:8.2f} {:+6.1f} {:+6.1f}".format(*inside_drops(generator, pairs, device))
            print(f"{name:40} {scores.psnr:7.2f} {scores.ssim:7.4f}{drops}")
    except DerainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
