"""DistributedDataParallel from torchrun's environment: the same command on 1 or N processes.

`torchrun --nproc_per_node N cli.py train ...` sets RANK, LOCAL_RANK and WORLD_SIZE; without
them this is a single process. gloo on CPU, nccl on CUDA. There is no launcher here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from stream_derain.errors import DerainError


@dataclass(frozen=True)
class Distributed:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(option: str, local_rank: int = 0) -> torch.device:
    """"auto" takes the CUDA GPU when there is one; a process under torchrun takes its own."""
    if option == "auto":
        option = "cuda" if torch.cuda.is_available() else "cpu"
    if option.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DerainError("--device cuda asked for, but no CUDA GPU is available")
        return torch.device("cuda", local_rank) if option == "cuda" else torch.device(option)
    if option != "cpu":
        raise DerainError(f"unknown device {option!r}: use auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


def setup(device_option: str) -> Distributed:
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Distributed(0, 0, 1, pick_device(device_option))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_option, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, local_rank, world_size, device)


def teardown(env: Distributed) -> None:
    if env.enabled and dist.is_initialized():
        dist.destroy_process_group()


def gather(env: Distributed, value: Any) -> list[Any]:
    """Every rank's `value`, in rank order (a collective: all ranks must call it)."""
    if not env.enabled:
        return [value]
    values: list[Any] = [None] * env.world_size
    dist.all_gather_object(values, value)
    return values


def average_gradients(env: Distributed, parameters: list[torch.nn.Parameter]) -> None:
    """All-reduce gradients by hand, for steps that bypass the DDP wrapper (ARN pretraining)."""
    if not env.enabled:
        return
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad /= env.world_size
