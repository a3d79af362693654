"""The rendered sets that judge a candidate (docs/TRAINING.md, the rule since run 31), for the
scripts that score them in Python and for `val_score.py --judging-set`, which
scripts/candidate_report.sh calls."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from train.config import load_config
from train.trainer import build_datasets, validation_pairs

RECIPES = Path(__file__).resolve().parents[1] / "train" / "recipes"
PAIRS = 64  # every judging set since run 31 (docs/TRAINING.md, "A larger judging set")
JUDGING_SETS = {  # name: (recipe, its --set overrides)
    "lite.toml": ("lite.toml", []),
    "lite-stage2.toml": ("lite-stage2.toml", []),
    # threshold 10 pins the set as it was defined: the threshold decides which crops are drawn again
    "soft, 9..16": ("lite.toml", ["data.blur_sigma=[9,16]", "data.mask_threshold=10"]),
    "bright-veil mixed": ("lite.toml", ["data.veil=[0.03,0.22]", "data.veil_spread=32", "data.veil_chance=0.5"]),
}


def judging_pairs(name: str, count: int = PAIRS, extra: Sequence[str] = ()) -> list[dict]:
    """The first `count` held-out pairs of the set: the same pairs in every script and run.
    `extra` overrides come last (`--set`, e.g. data.veil_chance=1 for the mixed set's veiled half)."""
    recipe, overrides = JUDGING_SETS[name]
    config = load_config(RECIPES / recipe, [f"data.val_pairs={count}", *overrides, *extra])
    return validation_pairs(build_datasets(config.data, config.run.seed)[1], count)
