"""Average the weights of generators fine-tuned from one start into a new checkpoint (a model soup).

    python scripts/average_weights.py runs/lite-v33/best.pt runs/lite-v35/best.pt --out runs/soup-33-35.pt

The models must share their config; the new file's metadata names each source and its digest
(train/soup.py says why such an average is a model worth scoring).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.checkpoint import save_checkpoint  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from train.soup import average_checkpoints  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        if any(args.out.resolve() == source.resolve() for source in args.sources):
            raise DerainError("--out must not be one of the sources")
        if not args.out.parent.is_dir():
            raise DerainError(f"--out's folder {args.out.parent} does not exist")
        generator, metadata = average_checkpoints(args.sources)
        digest = save_checkpoint(args.out, generator, metadata)
    except DerainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: the mean of {len(args.sources)} models, sha256 {digest[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
