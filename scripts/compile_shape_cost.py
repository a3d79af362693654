"""What a new batch size costs a compiled runner: the first call per shape compiles.

    OMP_NUM_THREADS=1 python scripts/compile_shape_cost.py

A video whose frame count is not a multiple of --batch ends on a short batch; the pipeline fills
it to the full size for runners with fixed shapes (docs/BENCHMARKS.md, "The last, short batch").
"""

import time, torch
from stream_derain.checkpoint import load_model
from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.temporal import NonePolicy
torch.set_num_threads(1)
model = load_model("lite")
runner = TorchRunner(model.generator, compile=True)
policy = NonePolicy()
def call(n):
    x = torch.rand(n, 3, 96, 128)
    t = time.perf_counter(); runner.restore(x, policy.masks(x, runner)); return time.perf_counter() - t
for label, n in [("batch 4, first", 4), ("batch 4, again", 4), ("batch 1, first (the short last batch)", 1), ("batch 1, again", 1)]:
    print(f"{label}: {call(n):.2f} s")
