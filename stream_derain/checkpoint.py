"""One checkpoint file = model config + generator weights + metadata. Loaded safely only.

The file is a `torch.save` of plain containers and tensors, read back with
`torch.load(weights_only=True)`: a pickle that would run code is refused, not executed.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import DerainError
from .models import PRESETS, Generator, ModelConfig, build_generator

FORMAT = "stream-derain-generator"
FORMAT_VERSION = 1
WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass
class LoadedModel:
    generator: Generator
    metadata: dict = field(default_factory=dict)
    source: str = ""  # a file path, or "untrained <preset>"
    trained: bool = True

    def visible_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The attention map in [0, 1] for people to look at: models trained with BCE, and gated
        models (whose gate reads the map as logits), emit logits."""
        if self.metadata.get("mask_activation") == "sigmoid" or self.generator.config.gate:
            return torch.sigmoid(mask.float())
        return mask.float().clamp(0, 1)


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """A digest of the weights alone (names, shapes, dtypes, values), independent of pickling."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def model_sha256(config: ModelConfig, state_dict: dict[str, torch.Tensor]) -> str:
    """What identifies a model: its config and its weights. Weights alone are not enough, since
    two configs can share every weight shape yet build different graphs (the lite ARN at half
    resolution, say), and nothing cached for one may be used for the other."""
    description = json.dumps(config.to_dict(), sort_keys=True)
    return hashlib.sha256(f"{description}\n{weights_sha256(state_dict)}".encode()).hexdigest()


def save_checkpoint(path: Path, generator: Generator, metadata: dict | None = None, dtype: torch.dtype = torch.float32) -> str:
    """Write the generator to `path` (atomically); return its sha256 (config and weights).

    `dtype=torch.float16` halves the file (the models are built in float32 and take the
    weights back in it), for weights that must travel or ship small."""
    # non-float buffers (none today) are stored as float32, as before `dtype` existed, so
    # existing checkpoints keep their digests
    state = {name: tensor.detach().cpu().to(dtype if tensor.is_floating_point() else torch.float32)
             for name, tensor in generator.state_dict().items()}
    digest = model_sha256(generator.config, state)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": generator.config.to_dict(),
        "state_dict": state,
        "metadata": {**(metadata or {}), "sha256": digest},
    }
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    torch.save(payload, temporary)
    temporary.replace(path)
    return digest


def load_plain(path: Path, what: str = "checkpoint") -> Any:
    """`torch.load` of plain data only, every failure a one-line DerainError naming `what`."""
    path = Path(path)
    if not path.is_file():
        raise DerainError(f"{what} {path} not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the outcome is reported below
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's first line is advice to retry with weights_only=False: never show a user that
        blocked = re.search(r"GLOBAL (\S+)", str(error))
        if blocked:
            reason = f"it would load {blocked.group(1)}, which plain weights never need"
            raise DerainError(f"{what} {path} refused: {reason}") from None
        raise DerainError(f"{what} {path} is corrupted or not a {what} (unreadable pickle)") from None
    # the weights-only unpickler meets a text or random file as a bad memo key or an empty stack
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, IndexError) as error:
        raise DerainError(f"{what} {path} is corrupted or not a {what} ({type(error).__name__})") from None


def read_checkpoint(path: Path) -> dict:
    """Load and validate the raw payload, refusing anything that is not plain data."""
    payload = load_plain(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DerainError(f"{path} is not a stream-derain generator checkpoint")
    return payload


def load_checkpoint(path: Path, expect_preset: str | None = None) -> LoadedModel:
    payload = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError, KeyError) as error:
        raise DerainError(f"checkpoint {path} has a bad model config: {error}") from None
    if expect_preset and config.preset != expect_preset:
        raise DerainError(f"checkpoint {path} holds preset {config.preset!r}, not {expect_preset!r}")
    state = payload["state_dict"]
    metadata = dict(payload.get("metadata", {}))
    if metadata.get("sha256") and model_sha256(config, state) != metadata["sha256"]:
        raise DerainError(f"checkpoint {path} is corrupted: its weights do not match their sha256")
    generator = Generator(config)
    expected = set(generator.state_dict())
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (first: {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected keys (first: {extra[0]})")
        raise DerainError(f"checkpoint {path} does not fit preset {config.preset!r}: {'; '.join(parts)}")
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        detail = str(error).splitlines()[-1].strip()
        raise DerainError(f"checkpoint {path} does not fit preset {config.preset!r}: {detail}") from None
    return LoadedModel(generator.eval(), metadata, str(path), trained=True)


def shipped_weights(preset: str) -> Path:
    return WEIGHTS_DIR / f"{preset}.pt"


def load_model(model: str | Path) -> LoadedModel:
    """A preset name (its shipped weights, or untrained if none ship) or a checkpoint path."""
    name = str(model)
    if name in PRESETS:
        weights = shipped_weights(name)
        if weights.is_file():
            return load_checkpoint(weights, expect_preset=name)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the same untrained weights in every process: caches stay valid
            generator = build_generator(name).eval()
        return LoadedModel(generator, {}, f"untrained {name}", trained=False)
    path = Path(name)
    if path.suffix or path.exists() or "/" in name:
        return load_checkpoint(path)
    raise DerainError(f"unknown model {name!r}: give a preset ({', '.join(PRESETS)}) or a checkpoint file")
