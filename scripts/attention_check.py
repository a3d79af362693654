"""Has the attention map learnt where the drops are? Scores a run's map on its own held-out pairs.

    python scripts/attention_check.py runs/lite            # the run's latest state, mid-run too
    python scripts/attention_check.py runs/lite/best.pt --recipe train/recipes/lite.toml

Renders the validation pairs exactly as training does (the recipe's sources, drops and seeds)
and prints the map's mean probability inside and outside the target mask, its BCE beside the
best constant map's (a ratio near 1 means nothing learnt), and its precision and recall at 0.5.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.checkpoint import load_checkpoint  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from train.config import config_from_dict, load_config  # noqa: E402
from train.losses import constant_map_bce  # noqa: E402
from train.trainer import STATE_FILE, build_datasets, validation_pairs  # noqa: E402


def model_and_recipe(path: Path, recipe: Path | None) -> tuple[Generator, object]:
    if path.is_dir():
        if not (path / STATE_FILE).is_file():
            sys.exit(f"error: {path} holds no {STATE_FILE}: give a run folder or a checkpoint file")
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
        config = config_from_dict(state["config"])
        generator = Generator(config.model_config())
        generator.load_state_dict(state["generator"])
        print(f"{path}: step {state['step']}")
        return generator, config
    if recipe is None:
        sys.exit("a checkpoint file needs --recipe (the run's recipe: its validation data)")
    try:
        return load_checkpoint(path).generator, load_config(recipe)
    except DerainError as error:
        sys.exit(f"error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a run folder (its train_state.pt) or a checkpoint")
    parser.add_argument("--recipe", type=Path)
    args = parser.parse_args()
    generator, config = model_and_recipe(args.model, args.recipe)
    generator.eval()
    _, val_set, _ = build_datasets(config.data, config.run.seed)
    pairs = validation_pairs(val_set, config.data.val_pairs)
    rain = torch.stack([item["rain"] for item in pairs])
    target = torch.stack([item["mask"] for item in pairs])
    with torch.no_grad():
        logits = generator.attend(rain)[-1]
    probability = torch.sigmoid(logits)
    coverage, constant = float(target.mean()), constant_map_bce(target)
    bce = float(F.binary_cross_entropy_with_logits(logits, target))
    found = probability > 0.5
    hits = float((found & (target > 0)).sum())
    precision = hits / max(1.0, float(found.sum()))
    recall = hits / max(1.0, float((target > 0).sum()))
    print(f"drops cover {coverage:.1%} of {len(pairs)} held-out pairs")
    print(f"map inside drops {float(probability[target > 0].mean()):.3f}, outside {float(probability[target == 0].mean()):.3f}")
    print(f"BCE {bce:.3f}, constant map {constant:.3f}, ratio {bce / constant:.2f}")
    print(f"at 0.5: precision {precision:.2f}, recall {recall:.2f}")


if __name__ == "__main__":
    main()
