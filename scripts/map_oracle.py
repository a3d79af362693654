"""What a model's restore pass would give with a surer map: raised inside the drops only, or everywhere.

Two changes to the ARN's final map (as logits), each scored on rendered held-out sets and,
watched only, on the real pairs (../shared/real-raindrop, evaluation only):

- `--floor P`: inside the target drops the map is raised to at least P, elsewhere unchanged; an
  oracle, since it knows where the drops are (on real pairs, the paper's mask of |rain - clean|,
  which also holds the glass's misalignment). It bounds what a map that finds drops more surely
  could give with the restore pass as it is.
- `--shift B`: B added to the logits everywhere; a map that is bolder without knowing more.
- `--close K`: the map's grey closing over K x K px (a local maximum, then a local minimum): it
  fills a drop whose map is high at the rim and low inside, and knows nothing more.

Under each set's PSNR: the output's mean Y above clean inside the drops, the brightening a repair
leaves (positive) or its overshoot (negative).

    python scripts/map_oracle.py --model lite --floor 0.5 0.75 0.95 --shift 0.5 1 1.5 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.judging_sets import JUDGING_SETS, judging_pairs  # noqa: E402
from stream_derain.checkpoint import load_model  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.evaluate import find_pairs, read_rgb8  # noqa: E402
from stream_derain.frames import crop_to, frames_to_tensor, pad_to_multiple  # noqa: E402
from stream_derain.metrics import luma, score  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from stream_derain.synth.mask import PAPER_THRESHOLD, local_difference  # noqa: E402
from train.trainer import as_frame  # noqa: E402


def floored(logits: torch.Tensor, inside: torch.Tensor, floor: float) -> torch.Tensor:
    """The map (logits) raised to at least probability `floor` where `inside` is true."""
    return torch.where(inside, logits.clamp(min=float(torch.logit(torch.tensor(floor)))), logits)


def closed(logits: torch.Tensor, size: int) -> torch.Tensor:
    """The map's grey closing over `size` x `size` px (odd): the maximum, then the minimum."""
    pad = size // 2
    return -F.max_pool2d(-F.max_pool2d(logits, size, 1, pad), size, 1, pad)


@torch.inference_mode()
def variants(generator: Generator, rain: torch.Tensor, clean: np.ndarray, target: np.ndarray,
             floors: list[float], shifts: list[float], closings: list[int] = ()) -> np.ndarray:
    """For the map as is, then with each floor, each shift and each closing: the output's PSNR,
    and its mean Y above clean inside the target drops (negative: the repair darkens them)."""
    x, size = pad_to_multiple(rain.unsqueeze(0), generator.config.pad_multiple)
    inside = torch.zeros(x.shape[-2:], dtype=torch.bool)
    inside[: target.shape[0], : target.shape[1]] = torch.from_numpy(target)
    logits = generator.attend(x)[-1]
    maps = [logits]
    maps += [floored(logits, inside, floor) for floor in floors]
    maps += [logits + shift for shift in shifts]
    maps += [closed(logits, size) for size in closings]
    y_clean = luma(clean)
    drops = target[: y_clean.shape[0], : y_clean.shape[1]]  # luma crops to a multiple of 4
    rows = []
    for mask in maps:
        output = as_frame(crop_to(generator.restore(x, mask), size)[0])
        left = float((luma(output) - y_clean)[drops].mean()) if drops.any() else np.nan
        rows.append((score(output, clean).psnr, left))
    return np.array(rows)


def set_variants(generator: Generator, name: str, count: int, floors: list[float], shifts: list[float],
                 closings: list[int] = ()) -> np.ndarray:
    """`variants`' rows, averaged over the first `count` pairs of a judging set."""
    return np.nanmean([variants(generator, pair["rain"], as_frame(pair["clean"]), pair["mask"][0].numpy() > 0.5, floors, shifts, closings)
                       for pair in judging_pairs(name, count)], axis=0)


def real_variants(generator: Generator, folder: Path, floors: list[float], shifts: list[float],
                  threshold: float = PAPER_THRESHOLD, closings: list[int] = ()) -> list[tuple[str, np.ndarray]]:
    """Per real pair, `variants`' rows with the PSNR as a gain over the rainy input; the target is
    where the local mean of |rain - clean| passes `threshold` (the paper's mask at 30)."""
    rows = []
    for pair in find_pairs(folder):
        rain, clean = read_rgb8(pair.rain), read_rgb8(pair.clean)
        height, width = min(rain.shape[0], clean.shape[0]), min(rain.shape[1], clean.shape[1])
        rain, clean = rain[:height, :width], clean[:height, :width]
        target = local_difference(rain, clean) > threshold
        baseline = score(rain, clean).psnr
        rows.append((pair.name, variants(generator, frames_to_tensor(rain)[0], clean, target, floors, shifts, closings) - [baseline, 0.0]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--floor", type=float, nargs="*", default=[0.5, 0.75, 0.95])
    parser.add_argument("--shift", type=float, nargs="*", default=[0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--close", type=int, nargs="*", default=[], help="closings of the map, each K x K px (odd)")
    parser.add_argument("--pairs", type=int, default=64, help="rendered pairs per set (the judging sets hold 64)")
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-raindrop" / "pairs")
    parser.add_argument("--real-threshold", type=float, default=PAPER_THRESHOLD,
                        help="the real pairs' drop target: local mean of |rain - clean| above this (the paper's 30; training targets use 20)")
    args = parser.parse_args()
    try:
        generator = load_model(args.model).generator.eval()
    except DerainError as error:
        parser.error(str(error))
    if any(size < 1 or size % 2 == 0 for size in args.close):
        parser.error("a closing's size is an odd number of pixels")
    if not generator.config.gate:
        parser.error("the map changes act on a gated model's logits")
    header = ["as is"] + [f"floor {f}" for f in args.floor] + [f"shift {s:+}" for s in args.shift] + [f"close {k}" for k in args.close]
    print(f"{'set (PSNR; real: gain)':24}" + "".join(f"{name:>11}" for name in header))
    for name in JUDGING_SETS:
        rows = set_variants(generator, name, args.pairs, args.floor, args.shift, args.close)
        print(f"{name:24}" + "".join(f"{value:11.2f}" for value in rows[:, 0]))
        print(f"{'  in drops, out - clean':24}" + "".join(f"{value:+11.1f}" for value in rows[:, 1]), flush=True)
    if not args.real.is_dir():
        print(f"real pairs skipped: {args.real} is absent")
        return 0
    gains = real_variants(generator, args.real, args.floor, args.shift, args.real_threshold, args.close)
    for pair_name, rows in gains:
        print(f"{'real ' + pair_name:24}" + "".join(f"{value:+11.2f}" for value in rows[:, 0]))
    mean = np.mean([rows for _, rows in gains], axis=0)
    print(f"{'real, mean (watched)':24}" + "".join(f"{value:+11.2f}" for value in mean[:, 0]))
    print(f"{'  in drops, out - clean':24}" + "".join(f"{value:+11.1f}" for value in mean[:, 1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
