"""Shared test fixtures: run the real `derain` entry point in-process."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
import torch

import cli
from stream_derain import checkpoint
from stream_derain.checkpoint import LoadedModel
from stream_derain.models import Generator, ModelConfig

torch.set_num_threads(2)


@pytest.fixture(autouse=True, scope="session")
def engine_cache(tmp_path_factory):
    """Exported graphs go to a throwaway cache, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("cache")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("STREAM_DERAIN_CACHE", str(folder))
    yield folder
    patcher.undo()


@pytest.fixture
def untrained_presets(monkeypatch, tmp_path):
    """Presets load untrained, as if no weights shipped: the untrained lite is the identity,
    which tests of plumbing (sizes, colours, timing) compare against exactly."""
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path / "no-shipped-weights")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Call `derain ARGS...` through cli.main, as the console script does; return code and output."""

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["derain", *map(str, args)])
        capsys.readouterr()
        try:
            cli.main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


TINY_CONFIG = ModelConfig(
    preset="tiny", arn_channels=4, arn_blocks=1, steps=2, ae_channels=(4, 8, 8), ae_dilations=(2,), pad_multiple=8
)

# The lite architecture (half-resolution ARN, residual head) at a few channels: export, backend
# and policy tests exercise every path of the real preset in milliseconds.
TINY_LITE_CONFIG = ModelConfig(
    preset="lite", arn_channels=4, arn_blocks=1, arn_scale=2, ae_channels=(4, 8, 8), ae_first_kernel=3,
    ae_convs_before_dilation=0, ae_dilations=(2,), ae_convs_after_dilation=0, residual=True, gate=True, pad_multiple=8,
)


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    """A generator small enough that frame-rate tests measure the plumbing, not the model."""
    torch.manual_seed(0)
    return LoadedModel(Generator(TINY_CONFIG).eval(), {}, "tiny test model", trained=False)


@pytest.fixture
def one_thread():
    """Two cores shared by several jobs: torch's spinning worker threads only slow it down."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
