"""Score clips frame by frame against their clean ground truth, by the paper's protocol (Y PSNR/SSIM).

For clips rendered by `derain synth` (NAME_rain.mp4 beside NAME_clean.mp4): score the rainy clip
and its derained output against the clean one, to see what the model adds over the input:

    derain video samples/sample_rain.mp4 out.mp4
    python scripts/score_clip.py samples/sample_clean.mp4 samples/sample_rain.mp4 out.mp4
"""

from __future__ import annotations

import argparse
import sys
from itertools import zip_longest
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.metrics import score  # noqa: E402


def score_clip(clip: Path, clean: Path) -> tuple[float, float, int]:
    """Mean Y-PSNR and SSIM of `clip`'s frames against `clean`'s, decoded side by side."""
    psnrs, ssims = [], []
    with av.open(str(clip)) as rainy, av.open(str(clean)) as truth:
        frames = zip_longest(rainy.decode(video=0), truth.decode(video=0))
        for frame, target in frames:
            if frame is None or target is None:
                sys.exit(f"{clip} and {clean} differ in frame count")
            scores = score(frame.to_ndarray(format="rgb24"), target.to_ndarray(format="rgb24"))
            psnrs.append(scores.psnr)
            ssims.append(scores.ssim)
    return float(np.mean(psnrs)), float(np.mean(ssims)), len(psnrs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clean", type=Path)
    parser.add_argument("clips", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.clips:
        try:
            psnr, ssim, count = score_clip(path, args.clean)
        except (av.error.FFmpegError, ValueError) as error:
            sys.exit(f"{path}: {error}")
        print(f"{str(path):50} {psnr:6.2f} dB  SSIM {ssim:.3f}  ({count} frames)")


if __name__ == "__main__":
    main()
