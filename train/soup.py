"""A weight average ("model soup", Wortsman et al., ICML 2022) of generators fine-tuned from one start.

Runs that start from the same weights and differ only in their seed or data stay in one basin of
the loss, so the mean of their weights is a model in its own right, often better than either
and steadier off the training distribution. Only models with the same config can be averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from stream_derain.checkpoint import load_checkpoint
from stream_derain.errors import DerainError
from stream_derain.models import Generator


def average_checkpoints(paths: Sequence[Path]) -> tuple[Generator, dict]:
    """The uniform mean of the generators in `paths`, and metadata naming what went in."""
    if len(paths) < 2:
        raise DerainError("averaging needs two checkpoints or more")
    if len({Path(path).resolve() for path in paths}) < len(paths):
        raise DerainError("a checkpoint is named twice: each model goes in once")
    loaded = [load_checkpoint(path) for path in paths]
    first = loaded[0].generator
    for path, model in zip(paths[1:], loaded[1:]):
        if model.generator.config != first.config:
            raise DerainError(f"{path} is a different model from {paths[0]}: only one config can be averaged")
        # how the map is read (logits or not) must hold for the mean as it did for each model
        if model.metadata.get("mask_activation") != loaded[0].metadata.get("mask_activation"):
            raise DerainError(f"{path} reads its attention map unlike {paths[0]} (mask_activation)")
    states = [model.generator.state_dict() for model in loaded]
    averaged = {name: torch.stack([state[name].float() for state in states]).mean(0).to(tensor.dtype)
                for name, tensor in states[0].items()}
    soup = Generator(first.config)
    soup.load_state_dict(averaged)
    sources = [{"path": str(path), "sha256": model.metadata.get("sha256", ""), "steps": model.metadata.get("steps")}
               for path, model in zip(paths, loaded)]
    # what every source agrees on (its kind of map, its data) still describes the soup
    shared = {key: value for key, value in loaded[0].metadata.items()
              if key not in ("sha256", "val", "recipe", "steps", "wall_time_s")
              and all(model.metadata.get(key) == value for model in loaded[1:])}
    wall_time = sum(model.metadata.get("wall_time_s", 0.0) for model in loaded)
    return soup.eval(), {**shared, "averaged_from": sources, "wall_time_s": round(wall_time, 1)}
