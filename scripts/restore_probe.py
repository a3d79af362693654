"""How far does the restore pass go with a map that is sure of the drops, once it has trained on one?

`scripts/map_oracle.py` floors the map inside the true drops under a restore pass trained on the
ARN's own, unsure map, and finds that it overshoots (the residual is scaled to that map). Here the
restore pass (the autoencoder and its branches; the ARN frozen) trains on from a model's weights,
with the recipe's data, losses and LR schedule over `--steps`, in two arms that see the same batches: `as is`, the ARN's final map, and `floor P`, that map
raised to at least P inside the target drops (an oracle: it knows where the drops are). Each arm
is then scored with both maps on the judging sets and, watched only, on the real pairs (the
paper's mask as the target; ../shared/real-raindrop, evaluation only). The `floor P` arm with the
floored map bounds what a surer map could give with this restore pass; if that stays short of the
real-pair target, the restore pass, not the map, is what stops it.

    python scripts/restore_probe.py --model lite --recipe train/recipes/lite-veil.toml --steps 1000 --floor 0.75 --save runs/restore-probe

`--set model.OPTION=...` may add a head that starts at zero (`model.detail_gain=true`), as
`derain train --init` may; the probe then trains it with the restore pass.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.judging_sets import JUDGING_SETS  # noqa: E402
from scripts.map_oracle import floored, real_variants, set_variants  # noqa: E402
from stream_derain.checkpoint import load_model, save_checkpoint  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from stream_derain.models.generator import GeneratorOutput  # noqa: E402
from train.config import load_config  # noqa: E402
from train.losses import generator_losses  # noqa: E402
from train.trainer import SeededItems, StreamBatches, build_datasets, initial_weights, lr_factor  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--recipe", type=Path, default=Path("train/recipes/lite-veil.toml"), help="the data, loss and LR to train on")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="change the recipe, as `derain train --set` does")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--floor", type=float, default=0.75)
    parser.add_argument("--pairs", type=int, default=64, help="rendered pairs per judging set (64 as the rule's)")
    parser.add_argument("--save", type=Path, help="a folder to keep each arm's weights in, to score them again (map_oracle.py --model)")
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-raindrop" / "pairs")
    args = parser.parse_args()
    try:
        loaded = load_model(args.model)
        config = load_config(args.recipe, args.overrides)
        # the recipe's [model] may add a head that starts at zero (as `derain train --init` does)
        start = Generator(config.model_config())
        start.load_state_dict(initial_weights(args.model, config))
        train_set = build_datasets(config.data, config.run.seed)[0]
    except DerainError as error:
        parser.error(str(error))
    if not start.config.gate:
        parser.error("the floor acts on a gated model's logits")
    torch.manual_seed(config.run.seed)
    arms: dict[str, Generator] = {"as is": copy.deepcopy(start).train(), f"floor {args.floor}": copy.deepcopy(start).train()}
    optimizers = {name: torch.optim.Adam(arm.autoencoder.parameters(), lr=config.optim.lr, betas=tuple(config.optim.betas))
                  for name, arm in arms.items()}
    items = SeededItems(train_set, config.data.min_drop_coverage, config.data.dry_fraction)
    batches = iter(StreamBatches(None, config.data.batch_size, 0, 1, config.run.seed, 0))
    losses: dict[str, list[float]] = {name: [] for name in arms}
    started = time.monotonic()
    for step in range(1, args.steps + 1):
        for optimizer in optimizers.values():  # the recipe's warm-up and decay: Adam's first steps unsettle a trained model
            for group in optimizer.param_groups:
                group["lr"] = config.optim.lr * lr_factor(step - 1, config.optim, args.steps)
        batch = [items[key] for key in next(batches)]
        rain, clean, mask = (torch.stack([item[key] for item in batch]) for key in ("rain", "clean", "mask"))
        for name, arm in arms.items():
            with torch.no_grad():
                masks = arm.attend(rain)
            final = masks[-1] if name == "as is" else floored(masks[-1], mask > 0.5, args.floor)
            quarter, half, output = arm.autoencoder(rain, final)
            terms = generator_losses(GeneratorOutput(masks, quarter, half, output), clean, mask, config.loss)
            optimizers[name].zero_grad(set_to_none=True)
            terms["total"].backward()
            torch.nn.utils.clip_grad_norm_(arm.autoencoder.parameters(), config.optim.grad_clip or float("inf"))
            optimizers[name].step()
            losses[name].append((terms["total"] - terms["att"]).item())  # the ARN's term is frozen
        if step % 50 == 0:
            print(f"step {step}: restoration loss " + ", ".join(f"{name} {np.mean(values[-50:]):.4f}" for name, values in losses.items())
                  + f" ({time.monotonic() - started:.0f} s)", flush=True)

    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for name, arm in arms.items():
            metadata = {**loaded.metadata, "probe": f"restore_probe.py --steps {args.steps}, restore pass trained with the map {name}"}
            save_checkpoint(args.save / f"{name.replace(' ', '-')}.pt", arm, metadata)
    floors = [args.floor]
    print(f"\n{'trained with map':24}" + "".join(f"{arm:>22}" * 2 for arm in arms))
    print(f"{'scored with map':24}" + f"{'as is':>22}{'floored':>22}" * len(arms))
    for arm in arms.values():
        arm.eval()
    for name in JUDGING_SETS:
        rows = np.concatenate([set_variants(arm, name, args.pairs, floors, []) for arm in arms.values()])
        print(f"{name:24}" + "".join(f"{value:22.2f}" for value in rows[:, 0]))
        print(f"{'  in drops, out - clean':24}" + "".join(f"{value:+22.1f}" for value in rows[:, 1]), flush=True)
    if not args.real.is_dir():
        print(f"real pairs skipped: {args.real} is absent")
        return 0
    per_arm = [real_variants(arm, args.real, floors, []) for arm in arms.values()]
    for index, (pair_name, _) in enumerate(per_arm[0]):
        rows = np.concatenate([gains[index][1] for gains in per_arm])
        print(f"{'real ' + pair_name:24}" + "".join(f"{value:+22.2f}" for value in rows[:, 0]))
    mean = np.concatenate([np.mean([rows for _, rows in gains], axis=0) for gains in per_arm])
    print(f"{'real, mean (watched)':24}" + "".join(f"{value:+22.2f}" for value in mean[:, 0]))
    print(f"{'  in drops, out - clean':24}" + "".join(f"{value:+22.1f}" for value in mean[:, 1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
