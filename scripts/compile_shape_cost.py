"""What a new batch size costs a compiled runner: the first call per shape compiles.

    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) OMP_NUM_THREADS=1 python scripts/compile_shape_cost.py

(a fresh cache dir measures a cold compile; with inductor's default on-disk cache warm, a
repeat run compiles in a fraction of the time)

A video whose frame count is not a multiple of --batch ends on a short batch; the pipeline fills
it to the full size for runners with fixed shapes (docs/BENCHMARKS.md, "The last, short batch").
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.backends.torch_runner import TorchRunner  # noqa: E402
from stream_derain.checkpoint import load_model  # noqa: E402
from stream_derain.temporal import NonePolicy  # noqa: E402

HEIGHT, WIDTH = 96, 128


def main() -> None:
    torch.set_num_threads(1)
    runner = TorchRunner(load_model("lite").generator, compile=True)
    policy = NonePolicy()

    def seconds(batch: int) -> float:
        x = torch.rand(batch, 3, HEIGHT, WIDTH)
        start = time.perf_counter()
        runner.restore(x, policy.masks(x, runner))
        return time.perf_counter() - start

    for label, batch in [("batch 4, first", 4), ("batch 4, again", 4),
                         ("batch 1, first (the short last batch)", 1), ("batch 1, again", 1)]:
        print(f"{label}: {seconds(batch):.2f} s")


if __name__ == "__main__":
    main()
