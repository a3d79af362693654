"""SIGINT and SIGTERM in the middle of `video`, `live --record` and `train`, sent to a real process.

`video`: no output and no partial is left (or, with --keep-partial, a NAME.partial.EXT that plays).
`live --record`: a signal is how a live run ends, so the recording is finished and plays.
`train`: the run stops, and --resume continues from its last checkpoint.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_reliability import REPO, folder_state
from test_video_clips import make_clip

from stream_derain.video import DecodedFrame, VideoReader


def start(*args: str | Path) -> subprocess.Popen:
    # a shell's background job ignores SIGINT, and Python then never raises KeyboardInterrupt
    return subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), *map(str, args)], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"exited early ({process.returncode}): {process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the run to get going")
        time.sleep(0.05)


def wait_until_writing(folder: Path, process: subprocess.Popen) -> None:
    """The output's temporary file is open, and frames have had time to reach it. Its size tells
    nothing: FFmpeg buffers 32 KiB before the first write."""
    wait_for(lambda: bool(partials(folder)), process)
    time.sleep(1.5)
    assert process.poll() is None, process.communicate()[1]


def frames_in(path: Path) -> int:
    with VideoReader(path) as reader:
        return sum(isinstance(item, DecodedFrame) for item in reader)


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if "partial" in p.name]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "long.mp4"
    make_clip(path, frames=1500, size=(64, 48))
    return path


def test_video_interrupted_leaves_no_output(tmp_path: Path, long_clip: Path) -> None:
    """Ctrl-C here; SIGTERM, which cli.main turns into the same KeyboardInterrupt, in the next test."""
    before = folder_state(long_clip.parent)
    process = start("video", long_clip, tmp_path / "out.mp4", "--backend", "torch", "--batch", "1", "-q")
    wait_until_writing(tmp_path, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert list(tmp_path.iterdir()) == []
    assert folder_state(long_clip.parent) == before


def test_video_interrupted_with_keep_partial_keeps_a_playable_partial(tmp_path: Path, long_clip: Path) -> None:
    process = start("video", long_clip, tmp_path / "out.mp4", "--backend", "torch", "--batch", "1", "-q", "--keep-partial")
    wait_until_writing(tmp_path, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert [p.name for p in tmp_path.iterdir()] == ["out.partial.mp4"]  # never a name that looks finished
    assert 0 < frames_in(tmp_path / "out.partial.mp4") < 1500


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_live_record_interrupted_finishes_the_recording(tmp_path: Path, sig: signal.Signals) -> None:
    record = tmp_path / "rec.mp4"
    process = start(
        "live", "lavfi:testsrc2=size=64x48:rate=200", "--no-display", "--backend", "torch",
        "--record", record, "--json", "--max-frames", "100000",
    )
    wait_until_writing(tmp_path, process)
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in err, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["stopped"] == ("interrupted" if sig == signal.SIGINT else "SIGTERM")
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]
    assert frames_in(record) == summary["frames_out"] > 0


TRAIN_RECIPE = """
[model]
preset = "lite"
arn_channels = 4
arn_blocks = 1
steps = 2
arn_scale = 1
ae_channels = [4, 8, 8]
ae_first_kernel = 3
ae_convs_before_dilation = 0
ae_dilations = [2]
ae_convs_after_dilation = 0
pad_multiple = 4
[data]
root = "{root}"
crop = 32
batch_size = 2
val_pairs = 0
val_sources = ["c0"]
[loss]
gan = 0.0
[run]
out = "{out}"
steps = 100000
ckpt_every = 2
val_every = 0
log_every = 1
progress = false
tensorboard = false
"""


def test_train_interrupted_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    images, run = tmp_path / "clean", tmp_path / "run"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"c{i}.png"), np.random.default_rng(i).integers(0, 255, (48, 48, 3), dtype=np.uint8))
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TRAIN_RECIPE.format(root=images, out=run))
    process = start("train", "--recipe", recipe)
    state = run / "train_state.pt"
    wait_for(state.exists, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err, err
    saved = torch.load(state, weights_only=False)["step"]
    assert saved >= 2 and saved % 2 == 0  # a whole checkpoint, never a half-written one
    resumed = start("train", "--resume", "--out", run, "--steps", str(saved + 2))
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, saved + 3))  # resumed right after the checkpoint, no step twice
    assert (run / "final.pt").exists() and partials(run) == []
