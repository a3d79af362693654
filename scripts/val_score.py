"""Score models on a recipe's held-out rendered pairs: the trainer's own validation, outside a run.

    python scripts/val_score.py --recipe train/recipes/lite.toml lite runs/lite-stage2/best.pt
    python scripts/val_score.py --recipe train/recipes/lite-stage2.toml lite runs/lite-stage2/best.pt
    python scripts/val_score.py --recipe train/recipes/lite.toml --set 'data.blur_sigma=[9,14]' lite

Renders the pairs exactly as the trainer does (the recipe's sources, drops and seeds), so models
trained on different renderer settings can be compared on each other's validation sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.checkpoint import load_model  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from train.config import load_config  # noqa: E402
from train.trainer import build_datasets, identity_scores, validate, validation_pairs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="presets (lite, full) or checkpoint files")
    parser.add_argument("--recipe", type=Path, required=True, help="whose validation pairs to score on")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="change the recipe's data, as `derain train --set` does (e.g. data.blur_sigma=[9,14])")
    parser.add_argument("--device", default="cpu", help="where the models run (cpu, cuda); the pairs render on the CPU either way")
    args = parser.parse_args()
    try:
        config = load_config(args.recipe, args.overrides)
        _, val_set, _ = build_datasets(config.data, config.run.seed)
        pairs = validation_pairs(val_set, config.data.val_pairs)
        identity = identity_scores(pairs)
        print(f"{args.recipe}{''.join(' --set ' + item for item in args.overrides)}: {len(pairs)} held-out pairs")
        print(f"{'model':40} {'PSNR':>7} {'SSIM':>7}")
        print(f"{'input (identity)':40} {identity.psnr:7.2f} {identity.ssim:7.4f}")
        for name in args.models:
            device = torch.device(args.device)
            scores, _ = validate(load_model(name).generator.to(device), pairs, device)
            print(f"{name:40} {scores.psnr:7.2f} {scores.ssim:7.4f}")
    except DerainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
