"""Where exported graphs and engines live, and the manifest that ties each one to what made it.

Every artifact (an ONNX graph or a TensorRT engine) has a JSON manifest beside it,
`NAME.json`. An artifact is reused only when its manifest matches the weights, the precision
and, for an engine, the GPU and TensorRT version, and when the file's own sha256 still matches:
a stale or damaged file is rebuilt or refused, never handed to a runtime that could crash on it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from stream_derain.checkpoint import model_sha256

CACHE_ENV = "STREAM_DERAIN_CACHE"
GRAPHS = ("attend_step", "restore")
PRECISIONS = ("fp32", "fp16")


def cache_root() -> Path:
    """$STREAM_DERAIN_CACHE, else $XDG_CACHE_HOME/stream-derain, else ~/.cache/stream-derain."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "stream-derain"


def generator_sha256(generator: torch.nn.Module) -> str:
    """The model's digest over its config and fp32 CPU weights, whatever device or precision
    holds it now: what a float32 checkpoint records (a float16 one records its own)."""
    state = {name: tensor.detach().cpu().float() for name, tensor in generator.state_dict().items()}
    return model_sha256(generator.config, state)


def default_folder(weights_sha: str) -> Path:
    """One folder per set of weights: its ONNX graphs, engines and timing cache."""
    return cache_root() / "engines" / weights_sha[:12]


def onnx_path(folder: Path, graph: str, precision: str) -> Path:
    return Path(folder) / f"{graph}.{precision}.onnx"


def engine_path(folder: Path, graph: str) -> Path:
    return Path(folder) / f"{graph}.fp16.engine"


def manifest_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Manifest:
    """What an artifact was made from and for. Engine-only fields stay None for ONNX files."""

    kind: str  # "onnx" or "tensorrt"
    graph: str  # "attend_step" or "restore"
    precision: str  # "fp32" or "fp16"
    weights_sha256: str
    file_sha256: str
    preset: str
    created: str  # ISO 8601, UTC
    build_seconds: float
    opset: int | None = None
    max_rel_error: float | None = None  # ONNX Runtime against torch fp32, on random input
    tensorrt_version: str | None = None
    gpu_name: str | None = None
    compute_capability: str | None = None
    typing: str | None = None  # "fp16-flag" (TensorRT 10) or "strongly-typed"
    profile: dict | None = None  # {"min": [B, H, W], "opt": [...], "max": [...]}
    workspace_mb: int | None = None
    extra: dict = field(default_factory=dict)


def write_manifest(artifact: Path, manifest: Manifest) -> Path:
    path = manifest_path(artifact)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    temporary.replace(path)
    return path


def read_manifest(artifact: Path) -> Manifest | None:
    """The artifact's manifest, or None when it is missing or unreadable."""
    path = manifest_path(artifact)
    try:
        data = json.loads(path.read_text())
        known = {f.name for f in fields(Manifest)}
        return Manifest(**{key: value for key, value in data.items() if key in known})
    except (OSError, ValueError, TypeError):
        return None


def stale_reasons(artifact: Path, expected: dict[str, object]) -> list[str]:
    """Why `artifact` cannot be used as it is: [] when its manifest matches `expected` and its bytes."""
    if not artifact.is_file():
        return [f"{artifact.name} does not exist"]
    manifest = read_manifest(artifact)
    if manifest is None:
        return [f"{artifact.name} has no readable manifest"]
    reasons = [
        f"{key} is {getattr(manifest, key)!r}, here {value!r}"
        for key, value in expected.items()
        if getattr(manifest, key) != value
    ]
    if file_sha256(artifact) != manifest.file_sha256:
        reasons.append(f"{artifact.name} is corrupted: its sha256 does not match its manifest")
    return reasons
