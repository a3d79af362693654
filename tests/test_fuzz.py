"""A bounded fuzz run over the video reader and the image reader: random mutations of valid files.

Whatever the bytes, a reader either gives well-formed frames or raises DerainError, never any
other exception. Seeded, so a failure replays; STREAM_DERAIN_FUZZ_SECONDS sets the time per target
(CI: a few seconds; a longer local run: `STREAM_DERAIN_FUZZ_SECONDS=300 pytest tests/test_fuzz.py`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_video_clips import make_clip

from stream_derain.errors import DerainError
from stream_derain.image_io import read_image
from stream_derain.video import DecodedFrame, VideoReader

SECONDS = float(os.environ.get("STREAM_DERAIN_FUZZ_SECONDS", "2"))


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to four of: flip bits, overwrite a span, cut the tail, insert junk, repeat a chunk."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        n = len(out)
        if n < 2:
            break
        kind = int(rng.integers(5))
        at = int(rng.integers(n))
        if kind == 0:
            for i in rng.integers(0, n, size=int(rng.integers(1, 16))):
                out[i] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            span = int(rng.integers(1, 64))
            out[at : at + span] = rng.bytes(len(out[at : at + span]))
        elif kind == 2:
            del out[at:]
        elif kind == 3:
            out[at:at] = rng.bytes(int(rng.integers(1, 64)))
        else:
            span = int(rng.integers(1, 256))
            out[at:at] = out[at : at + span]
    return bytes(out)


def read_video(path: Path) -> None:
    with VideoReader(path) as reader:
        info = reader.info
        for item in reader:
            if isinstance(item, DecodedFrame):
                assert item.image.shape == (info.height, info.width, 3) and item.image.dtype == np.uint8


def read_still(path: Path) -> None:
    image = read_image(path)
    assert image.dtype in (np.uint8, np.uint16) and image.ndim in (2, 3) and image.size > 0


def fuzz(seed_file: Path, read: Callable[[Path], None], seconds: float, seed: int) -> tuple[int, int]:
    """Mutate and read until time is up; return (cases, cases read without error)."""
    rng = np.random.default_rng(seed)
    original = seed_file.read_bytes()
    target = seed_file.with_name(f"fuzzed{seed_file.suffix}")
    cases = good = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        payload = mutate(original, rng)
        target.write_bytes(payload)
        try:
            read(target)
            good += 1
        except DerainError as error:
            assert "\n" not in str(error)
        except Exception as error:  # anything else is a bug: keep the input to replay it
            crash = seed_file.with_name(f"crash-{cases}{seed_file.suffix}")
            crash.write_bytes(payload)
            raise AssertionError(f"{type(error).__name__}: {error} (input kept in {crash})") from error
        cases += 1
    return cases, good


@pytest.mark.parametrize("suffix, codec, pix_fmt", [(".mp4", "libx264", None), (".mkv", "mjpeg", "yuvj420p")])
def test_video_reader_survives_mutated_files(tmp_path: Path, suffix: str, codec: str, pix_fmt: str | None) -> None:
    seed_file = tmp_path / f"seed{suffix}"
    make_clip(seed_file, frames=6, size=(32, 24), codec=codec, pix_fmt=pix_fmt, audio_layout="mono")
    cases, good = fuzz(seed_file, read_video, SECONDS, seed=len(suffix) + len(codec))
    assert cases >= 20, f"only {cases} cases ran"
    assert 0 < cases - good  # the mutations do reach the error paths


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_image_reader_survives_mutated_files(tmp_path: Path, suffix: str) -> None:
    seed_file = tmp_path / f"seed{suffix}"
    cv2.imwrite(str(seed_file), np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8))
    cases, good = fuzz(seed_file, read_still, SECONDS / 2, seed=len(suffix))
    assert cases >= 50, f"only {cases} cases ran"
    assert 0 < cases - good
