"""Does a model shift a frame's overall brightness? Mean grey level of input and output, per image.

A model that learnt a rendered veil or the drops' brightening as a global tone to remove
darkens every frame, drops or not; run it on clean photos too:

    python scripts/tone_check.py --model runs/lite/best.pt IMAGE [IMAGE ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from scripts.repeated import repeated  # noqa: E402
from stream_derain import Derainer  # noqa: E402
from stream_derain.image_io import read_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--passes", type=int, default=1, help="run the model this many times, each on its own output")
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args()
    if args.passes < 1:
        parser.error("--passes counts whole passes: 1 or more")
    derainer = repeated(Derainer(model=args.model, device="cpu", backend="torch"), args.passes)
    print(f"{'image':40} {'input':>7} {'output':>7} {'shift':>7}")
    for path in args.images:
        image = read_image(path)
        before, after = float(image.mean()), float(derainer(image).mean())
        print(f"{str(path)[-40:]:40} {before:7.1f} {after:7.1f} {after - before:+7.1f}")


if __name__ == "__main__":
    main()
