"""Rewrite a generator checkpoint with float16 weights: half the size, the same metadata.

    python scripts/half_weights.py runs/full-gpu/best.pt full-fp16.pt

`full` in float32 is 25 MB, over the device tool's 16 MiB a file; in float16 it is 12.5 MB.
The models load it back into float32, so inference is unchanged apart from the rounding of the
weights, which the script reports as the largest relative change of any tensor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    try:
        if args.target.resolve() == args.source.resolve():
            raise DerainError("the target must differ from the source")
        loaded = load_checkpoint(args.source)
        metadata = {key: value for key, value in loaded.metadata.items() if key != "sha256"}
        digest = save_checkpoint(args.target, loaded.generator, {**metadata, "weights_dtype": "float16"}, dtype=torch.float16)
    except DerainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    worst = max(
        float((tensor - tensor.half().float()).abs().max() / tensor.abs().max().clamp_min(1e-12))
        for tensor in loaded.generator.state_dict().values()
    )
    print(f"{args.target}: {args.target.stat().st_size / 1e6:.1f} MB (from {args.source.stat().st_size / 1e6:.1f}), "
          f"largest relative rounding {worst:.1e}, sha256 {digest[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
