"""Weight averaging (train/soup.py, scripts/average_weights.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stream_derain.checkpoint import load_checkpoint, save_checkpoint
from stream_derain.errors import DerainError
from stream_derain.models import build_generator
from train.soup import average_checkpoints

ROOT = Path(__file__).resolve().parents[1]


def saved_generator(path: Path, seed: int, preset: str = "lite", **metadata) -> dict:
    torch.manual_seed(seed)
    generator = build_generator(preset)
    with torch.no_grad():  # the residual head starts at zero: make every weight differ by seed
        for parameter in generator.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    save_checkpoint(path, generator, {"mask_activation": "sigmoid", **metadata})
    return generator.state_dict()


def test_the_soup_is_the_mean_of_every_weight_and_names_its_sources(tmp_path):
    first = saved_generator(tmp_path / "a.pt", 1, steps=10, wall_time_s=5.0, data="x")
    second = saved_generator(tmp_path / "b.pt", 2, steps=20, wall_time_s=7.0, data="y")
    soup, metadata = average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"])
    for name, tensor in soup.state_dict().items():
        torch.testing.assert_close(tensor, (first[name] + second[name]) / 2)
    assert [source["steps"] for source in metadata["averaged_from"]] == [10, 20]
    assert all(len(source["sha256"]) == 64 for source in metadata["averaged_from"])
    assert metadata["mask_activation"] == "sigmoid" and "data" not in metadata  # kept only where both agree
    assert metadata["wall_time_s"] == 12.0


def test_models_of_different_configs_are_refused(tmp_path):
    saved_generator(tmp_path / "lite.pt", 1)
    saved_generator(tmp_path / "full.pt", 2, preset="full")
    with pytest.raises(DerainError, match="different model"):
        average_checkpoints([tmp_path / "lite.pt", tmp_path / "full.pt"])
    with pytest.raises(DerainError, match="two checkpoints"):
        average_checkpoints([tmp_path / "lite.pt"])
    with pytest.raises(DerainError, match="named twice"):
        average_checkpoints([tmp_path / "lite.pt", tmp_path / "lite.pt"])
    saved_generator(tmp_path / "other.pt", 3, mask_activation="none")
    with pytest.raises(DerainError, match="mask_activation"):
        average_checkpoints([tmp_path / "lite.pt", tmp_path / "other.pt"])


def test_the_script_writes_a_loadable_checkpoint_and_never_overwrites_a_source(tmp_path):
    saved_generator(tmp_path / "a.pt", 1)
    saved_generator(tmp_path / "b.pt", 2)
    script = [sys.executable, str(ROOT / "scripts" / "average_weights.py"), str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]
    done = subprocess.run([*script, "--out", str(tmp_path / "soup.pt")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(load_checkpoint(tmp_path / "soup.pt").metadata["averaged_from"]) == 2
    before = (tmp_path / "a.pt").read_bytes()
    refused = subprocess.run([*script, "--out", str(tmp_path / "a.pt")], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "must not be one of the sources" in refused.stderr
    assert (tmp_path / "a.pt").read_bytes() == before
    nowhere = subprocess.run([*script, "--out", str(tmp_path / "missing" / "soup.pt")], capture_output=True, text=True)
    assert nowhere.returncode == 1 and nowhere.stderr.count("\n") == 1 and "does not exist" in nowhere.stderr
