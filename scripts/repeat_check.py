"""A model applied to its own output again: does it under- or over-correct a kind of drop?

One pass is what every command runs. If a second pass gains, the first left drops it could still
see; if it loses, the first already went as far as it should. Scored on a recipe's held-out
rendered pairs (as scripts/val_score.py renders them) and on paired photos (as `derain eval`).

    python scripts/repeat_check.py --model lite --passes 1 2 3 --recipe train/recipes/lite.toml \
        --set data.val_pairs=64 --pairs ../shared/real-raindrop/pairs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.repeated import Repeated, repeated  # noqa: E402
from stream_derain import Derainer  # noqa: E402
from stream_derain.checkpoint import load_model  # noqa: E402
from stream_derain.evaluate import evaluate, find_pairs  # noqa: E402
from train.config import load_config  # noqa: E402
from train.trainer import build_datasets, identity_scores, validate, validation_pairs  # noqa: E402


def rendered(model: str, passes: list[int], recipe: Path, overrides: list[str]) -> None:
    config = load_config(recipe, overrides)
    _, val_set, _ = build_datasets(config.data, config.run.seed)
    pairs = validation_pairs(val_set, config.data.val_pairs)
    generator = load_model(model).generator
    identity = identity_scores(pairs)
    print(f"{recipe}{''.join(' --set ' + item for item in overrides)}: {len(pairs)} pairs, input {identity.psnr:.2f} / {identity.ssim:.4f}")
    for n in passes:
        with torch.inference_mode():
            scores, _ = validate(Repeated(generator, n), pairs, torch.device("cpu"))
        print(f"  {n} pass(es): {scores.psnr:.2f} / {scores.ssim:.4f}")


def photos(model: str, passes: list[int], folder: Path) -> None:
    derainer = Derainer(model, device="cpu", backend="torch")
    pairs = find_pairs(folder)
    print(f"{folder}: {len(pairs)} pairs, gain in PSNR per pair, then the mean (and mean SSIM)")
    for n in passes:
        results = evaluate(pairs, repeated(derainer, n))
        gains = [r.model.psnr - r.identity.psnr for r in results]
        ssim = np.mean([r.model.ssim for r in results])
        print(f"  {n} pass(es): {' / '.join(f'{g:+.2f}' for g in gains)}, mean {np.mean(gains):+.2f} ({ssim:.3f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite", help="preset or checkpoint")
    parser.add_argument("--passes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipe", type=Path, help="score on this recipe's held-out rendered pairs")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="as val_score.py's --set")
    parser.add_argument("--pairs", type=Path, help="a folder of rain/ and clean/ photos, as `derain eval` reads")
    args = parser.parse_args()
    if args.recipe is None and args.pairs is None:
        parser.error("give --recipe, --pairs or both")
    if args.recipe is not None:
        rendered(args.model, args.passes, args.recipe, args.overrides)
    if args.pairs is not None:
        photos(args.model, args.passes, args.pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
