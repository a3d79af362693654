"""Score clips frame by frame against their clean ground truth, by the paper's protocol (Y PSNR/SSIM).

For clips rendered by `derain synth` (NAME_rain.mp4 beside NAME_clean.mp4): score the rainy clip
and its derained output against the clean one, to see what the model adds over the input:

    derain video samples/sample_rain.mp4 out.mp4
    python scripts/score_clip.py samples/sample_clean.mp4 samples/sample_rain.mp4 out.mp4

With `--drops RAINY_CLIP`, each clip is also scored inside and away from the drops (where the
5x5 local mean of |rain - clean| is above 30, as scripts/pair_breakdown.py): the Y mean squared
error in each, and the mean Y shift against clean away from them (a veil lifts it; a model that
overshoots the veil pushes it below zero).
"""

from __future__ import annotations

import argparse
import sys
from itertools import zip_longest
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.metrics import luma, score  # noqa: E402
from stream_derain.synth.mask import PAPER_THRESHOLD, local_difference  # noqa: E402


def _frames(path: Path):
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def score_clip(clip: Path, clean: Path, rainy: Path | None = None) -> dict[str, float]:
    """Mean Y-PSNR and SSIM of `clip`'s frames against `clean`'s, decoded side by side; with
    `rainy`, also the breakdown inside and away from its drops."""
    rows: list[dict[str, float]] = []
    rain_frames = _frames(rainy) if rainy else None
    for frame, target in zip_longest(_frames(clip), _frames(clean)):
        if frame is None or target is None:
            raise ValueError(f"{clip} and {clean} differ in frame count")
        scores = score(frame, target)
        row = {"psnr": scores.psnr, "ssim": scores.ssim}
        if rain_frames is not None:
            rain = next(rain_frames, None)
            if rain is None:
                raise ValueError(f"{rainy} has fewer frames than {clean}")
            drops = local_difference(rain, target) > PAPER_THRESHOLD
            drops = drops[: drops.shape[0] // 4 * 4, : drops.shape[1] // 4 * 4]  # as luma crops
            error = luma(frame) - luma(target)
            row.update(mse_drops=float(np.mean(error[drops] ** 2)), mse_away=float(np.mean(error[~drops] ** 2)),
                       shift_away=float(error[~drops].mean()))
        rows.append(row)
    if not rows:
        raise ValueError(f"{clip} has no video frames")
    summary = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    summary["frames"] = len(rows)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clean", type=Path)
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--drops", type=Path, help="the rainy clip, to score inside and away from its drops")
    args = parser.parse_args()
    for path in args.clips:
        try:
            result = score_clip(path, args.clean, args.drops)
        except (av.error.FFmpegError, ValueError) as error:
            sys.exit(f"{path}: {error}")
        line = f"{str(path):50} {result['psnr']:6.2f} dB  SSIM {result['ssim']:.3f}  ({result['frames']} frames)"
        if args.drops:
            line += (f"  MSE in drops {result['mse_drops']:.0f}, away {result['mse_away']:.0f}; "
                     f"shift away {result['shift_away']:+.1f}")
        print(line)


if __name__ == "__main__":
    main()
