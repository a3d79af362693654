"""Score clips frame by frame against their clean ground truth, by the paper's protocol (Y PSNR/SSIM).

For clips rendered by `derain synth` (NAME_rain.mp4 beside NAME_clean.mp4): score the rainy clip
and its derained output against the clean one, to see what the model adds over the input:

    derain video samples/sample_rain.mp4 out.mp4
    python scripts/score_clip.py samples/sample_clean.mp4 samples/sample_rain.mp4 out.mp4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.metrics import score  # noqa: E402


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clean", type=Path)
    parser.add_argument("clips", nargs="+", type=Path)
    args = parser.parse_args()
    clean = rgb_frames(args.clean)
    for path in args.clips:
        frames = rgb_frames(path)
        if len(frames) != len(clean):
            sys.exit(f"{path}: {len(frames)} frames, but {args.clean} has {len(clean)}")
        scores = [score(frame, truth) for frame, truth in zip(frames, clean)]
        psnr, ssim = np.mean([s.psnr for s in scores]), np.mean([s.ssim for s in scores])
        print(f"{str(path):50} {psnr:6.2f} dB  SSIM {ssim:.3f}  ({len(scores)} frames)")


if __name__ == "__main__":
    main()
