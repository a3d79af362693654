"""What a second attention map, from the frame at a smaller size, would do: scored, not shipped.

A model's weights run with `ModelConfig.map_zoom` set (models/zoom.py): its map is computed on
the frame as given and on the frame downscaled by ZOOM, and the restore pass reads their
per-pixel maximum; the small frame's map fills large soft drops that the full-size map marks
only at their rims (docs/TRAINING.md, "At full size, the shipped map finds the rims of large
soft drops").
Prints the rendered judging sets (64 pairs each) and, where ../shared/real-raindrop is present,
the real pairs' PSNR gains (evaluation only: watched, never used to choose).

    python scripts/map_zoom_check.py --model lite --zoom 0.5 0.33
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain import Derainer  # noqa: E402
from stream_derain.checkpoint import LoadedModel, load_model  # noqa: E402
from stream_derain.cost import count_macs  # noqa: E402
from stream_derain.evaluate import evaluate, find_pairs  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from scripts.judging_sets import JUDGING_SETS, judging_pairs  # noqa: E402
from train.trainer import validate  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-raindrop" / "pairs"


def zoomed(generator: Generator, zoom: float) -> Generator:
    """The same weights with `map_zoom` set."""
    model = Generator(replace(generator.config, map_zoom=zoom)).eval()
    model.load_state_dict(generator.state_dict())
    return model


def real_gains(generator: Generator, metadata: dict) -> list[float]:
    """PSNR gains on the real pairs through `Derainer`, as `derain eval` scores them."""
    derainer = Derainer(LoadedModel(generator, metadata, "map_zoom_check", trained=True), device="cpu", backend="torch")
    return [r.model.psnr - r.identity.psnr for r in evaluate(find_pairs(REAL), derainer)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--zoom", type=float, nargs="+", default=[0.5])
    args = parser.parse_args()
    loaded = load_model(args.model)
    generator = loaded.generator.eval()
    variants = {"as shipped": generator, **{f"zoom {zoom:g}": zoomed(generator, zoom) for zoom in args.zoom}}
    # what the second map costs: one full pass (all ARN steps and the restore) at 480x720
    print(f"{'GMAC at 480x720':20}" + "".join(f" {count_macs(model, 480, 720)['total'] / 1e9:16.1f}" for model in variants.values()))
    print(f"{'set (PSNR / SSIM)':20}" + "".join(f" {name:>16}" for name in variants))
    for name in JUDGING_SETS:
        pairs = judging_pairs(name)
        row = f"{name:20}"
        for model in variants.values():
            scores, _ = validate(model, pairs, torch.device("cpu"))
            row += f" {scores.psnr:8.2f} / {scores.ssim:.4f}"[-17:]
        print(row, flush=True)
    if not REAL.is_dir():
        print(f"real pairs: {REAL} is absent, skipped")
        return 0
    for name, model in variants.items():
        gains = real_gains(model, loaded.metadata)
        print(f"real pairs, {name}: " + " / ".join(f"{gain:+.2f}" for gain in gains) + f", mean {np.mean(gains):+.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
