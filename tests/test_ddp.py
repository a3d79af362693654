"""DDP from torchrun's environment: 2 CPU processes with gloo end a run with identical weights."""

import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

WORKER = """
import os, sys
sys.path[:0] = [{repo!r}, {tests!r}]
import torch
from stream_derain.checkpoint import weights_sha256
from test_trainer import TinyDrops, tiny_config
from train.trainer import train

torch.set_num_threads(1)
config = tiny_config({out!r}, steps=3, val_every=0, ckpt_every=3)
config.loss.gan_start = 2  # step 1 pretrains the ARN (hand-reduced), 2 trains G, 3 the GAN
summary = train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))
digests = [weights_sha256(summary[part].state_dict()) for part in ("generator", "discriminator")]
with open(os.path.join({out!r}, "weights_" + os.environ["RANK"] + ".txt"), "w") as handle:
    handle.write(" ".join(digests))
"""


def test_two_gloo_processes_under_torchrun_keep_identical_weights(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(repo=str(REPO), tests=str(REPO / "tests"), out=str(tmp_path / "run")))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    rank0 = (tmp_path / "run" / "weights_0.txt").read_text()
    rank1 = (tmp_path / "run" / "weights_1.txt").read_text()
    assert rank0 == rank1  # the ranks drew different samples, so only synchronised gradients agree
    state = torch.load(tmp_path / "run" / "train_state.pt", weights_only=True)
    assert state["world_size"] == 2 and state["samples_seen"] == 3 * 2 * 2
    assert len(state["rng"]) == 2 and not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])
