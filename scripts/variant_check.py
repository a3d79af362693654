"""A model's weights under other settings of its config that add no weights: scored side by side.

Each VARIANT is KEY=VALUE[,KEY=VALUE] over `ModelConfig`'s fields, for example `map_zoom=0.5`
(a second map from the frame at half size, models/zoom.py; docs/TRAINING.md, "A second map from
the frame at half size") or `steps=2` (the ARN's recurrent steps). Prints what one full pass
costs at 480x720, the rendered judging sets (64 pairs each; under each, every variant's PSNR
difference from the weights as given over the same pairs, with its standard error), each
variant's verdict by the rule for config changes (docs/TRAINING.md, "A rule for config changes of
the shipped weights": the rendered part; tone and the real-pair veto are read apart) and, where
../shared/real-raindrop is present, the real pairs' PSNR gains (evaluation only: watched, never
used to choose).

    python scripts/variant_check.py --model lite map_zoom=0.5 map_zoom=0.33
    python scripts/variant_check.py --model lite steps=2 steps=3
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.judging_sets import JUDGING_SETS, judging_pairs  # noqa: E402
from stream_derain import Derainer  # noqa: E402
from stream_derain.checkpoint import LoadedModel, load_model  # noqa: E402
from stream_derain.cost import count_macs  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.evaluate import evaluate, find_pairs  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from stream_derain.metrics import Scores  # noqa: E402
from train.config_rule import psnr_differences, rule_failures, standard_error  # noqa: E402
from train.trainer import mean_scores, score_pairs  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-raindrop" / "pairs"


def variant(generator: Generator, settings: str) -> Generator:
    """The same weights under `settings` ("KEY=VALUE,KEY=VALUE"), each value of its field's type."""
    changes = {}
    for item in settings.split(","):
        key, _, value = item.partition("=")
        if not hasattr(generator.config, key) or not value:
            raise DerainError(f"variant {item!r}: need KEY=VALUE with KEY a model config field")
        kind = type(getattr(generator.config, key))
        if kind is bool:  # bool("false") is True
            if value.lower() not in ("true", "false"):
                raise DerainError(f"variant {item!r}: {key} takes true or false")
            changes[key] = value.lower() == "true"
            continue
        try:
            changes[key] = kind(value)
        except ValueError:
            raise DerainError(f"variant {item!r}: {value!r} is not a {kind.__name__}") from None
    try:
        model = Generator(replace(generator.config, **changes)).eval()
    except ValueError as error:
        raise DerainError(f"variant {settings!r}: {error}") from None
    model.load_state_dict(generator.state_dict())
    return model


def paired_difference(base: list[Scores], other: list[Scores]) -> str:
    """The mean PSNR difference over the same pairs, its standard error, and how many pairs gain:
    whether a difference is larger than what the choice of pairs alone would give."""
    diffs = psnr_differences(base, other)
    return f"{diffs.mean():+.3f} ± {standard_error(diffs):.3f} dB, {(diffs > 0).sum()}/{len(diffs)} pairs gain"


def real_gains(generator: Generator, metadata: dict) -> list[float]:
    """PSNR gains on the real pairs through `Derainer`, as `derain eval` scores them."""
    derainer = Derainer(LoadedModel(generator, metadata, "variant_check", trained=True), device="cpu", backend="torch")
    return [r.model.psnr - r.identity.psnr for r in evaluate(find_pairs(REAL), derainer)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("variants", nargs="+", help="KEY=VALUE[,KEY=VALUE] over the model config, e.g. map_zoom=0.5 or steps=2")
    args = parser.parse_args()
    try:
        loaded = load_model(args.model)
        generator = loaded.generator.eval()
        variants = {"as given": generator, **{settings: variant(generator, settings) for settings in args.variants}}
    except DerainError as error:
        parser.error(str(error))
    # what each costs: one full pass (all ARN steps and the restore) at 480x720
    print(f"{'GMAC at 480x720':20}" + "".join(f" {count_macs(model, 480, 720)['total'] / 1e9:16.1f}" for model in variants.values()))
    print(f"{'set (PSNR / SSIM)':20}" + "".join(f" {name:>16}" for name in variants))
    judged: dict[str, dict[str, tuple[list[Scores], list[Scores]]]] = {settings: {} for settings in args.variants}
    for name in JUDGING_SETS:
        pairs = judging_pairs(name)
        per_pair = {variant_name: score_pairs(model, pairs, torch.device("cpu"))[0] for variant_name, model in variants.items()}
        row = f"{name:20}"
        for scores in per_pair.values():
            mean = mean_scores(scores)
            row += f" {mean.psnr:8.2f} / {mean.ssim:.4f}"[-17:]
        print(row, flush=True)
        base = per_pair["as given"]
        for variant_name in args.variants:
            print(f"{'':20}   {variant_name} against as given: {paired_difference(base, per_pair[variant_name])}")
            judged[variant_name][name] = (base, per_pair[variant_name])
    for variant_name, per_set in judged.items():
        failures = rule_failures(per_set)
        print(f"rule for config changes, {variant_name}: " + ("fails: " + "; ".join(failures) if failures else "passes (rendered sets; tone and the real-pair veto apart)"))
    if not REAL.is_dir():
        print(f"real pairs: {REAL} is absent, skipped")
        return 0
    for name, model in variants.items():
        gains = real_gains(model, loaded.metadata)
        print(f"real pairs, {name}: " + " / ".join(f"{gain:+.2f}" for gain in gains) + f", mean {np.mean(gains):+.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
