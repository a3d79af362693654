"""The bad-input corpus, built by the tests themselves and run through the real `derain` entry point.

Every case ends one of two ways: a valid input gives correct output; anything else gives one
`derain: error:` line and a non-zero exit. Never a traceback, never a file left behind that
looks finished, and the input is never touched. docs/RELIABILITY.md lists each case and result.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from test_video_clips import make_audio_only, make_clip

from stream_derain.checkpoint import save_checkpoint
from stream_derain.errors import DerainError
from stream_derain.image_io import read_image
from stream_derain.models import Generator, ModelConfig
from stream_derain.video import DecodedFrame, VideoReader

REPO = Path(__file__).resolve().parent.parent
SIZE = (32, 24)  # width, height of the ordinary clips
# a generator small enough to export to ONNX in a second; only its plumbing is under test
TINY = ModelConfig(
    preset="lite", arn_channels=4, arn_blocks=1, steps=2, arn_scale=1, ae_channels=(4, 8, 8),
    ae_first_kernel=3, ae_convs_before_dilation=0, ae_dilations=(2,), ae_convs_after_dilation=0,
    residual=True, pad_multiple=4,
)


def folder_state(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) with its sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip() and not line.startswith("derain: warning:")]


def assert_clean_failure(result, message: str, before: dict[str, str], folder: Path) -> None:
    """One error line naming the problem, a non-zero exit, and the folder exactly as it was."""
    assert result.code != 0, result.out
    assert "Traceback" not in result.err
    lines = error_lines(result.err)
    assert len(lines) == 1 and lines[0].startswith("derain: error:"), result.err
    assert message in lines[0], lines[0]
    assert folder_state(folder) == before  # no output, no partial, input untouched


def frame_count(path: Path) -> int:
    with VideoReader(path) as reader:
        return sum(isinstance(item, DecodedFrame) for item in reader)


def faststart(source: Path, target: Path) -> None:
    """The same packets, with the index (moov) before the data, as phones and streaming sites write."""
    with av.open(str(source)) as inp, av.open(str(target), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.size:
                packet.stream = stream
                out.mux(packet)


# --- the video corpus: inputs that must fail cleanly ---


def empty_file(folder: Path) -> Path:
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return path


def random_bytes(folder: Path) -> Path:
    path = folder / "random.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(20_000))
    return path


def truncated_before_index(folder: Path) -> Path:
    whole = folder / "whole.mp4"
    make_clip(whole, frames=20, size=SIZE)
    data = whole.read_bytes()
    whole.unlink()
    assert data.find(b"moov") > data.find(b"mdat")  # the index sits at the end, as a camera writes it
    path = folder / "no_index.mp4"
    path.write_bytes(data[: data.find(b"moov") - 200])
    return path


def zero_frames(folder: Path) -> Path:
    path = folder / "zero.y4m"  # a valid stream header and not one frame
    path.write_bytes(b"YUV4MPEG2 W32 H24 F10:1 Ip A1:1 C420jpeg\n")
    return path


def audio_only(folder: Path) -> Path:
    path = folder / "audio.mp4"
    make_audio_only(path)
    return path


def a_directory(folder: Path) -> Path:
    path = folder / "clips.mp4"
    path.mkdir()
    return path


def missing(folder: Path) -> Path:
    return folder / "missing.mp4"


@pytest.mark.parametrize(
    "make, message",
    [
        (empty_file, "cannot read"),
        (random_bytes, "cannot read"),
        (truncated_before_index, "cannot read"),
        (zero_frames, "no video frame"),
        (audio_only, "no video stream"),
        (a_directory, "is a folder"),
        (missing, "not found"),
    ],
    ids=lambda case: case.__name__ if callable(case) else None,
)
def test_bad_video_input_is_one_line_and_leaves_nothing(tmp_path: Path, run_cli, make: Callable, message: str) -> None:
    source = make(tmp_path)
    before = folder_state(tmp_path)
    result = run_cli("video", source, tmp_path / "out.mp4", "--backend", "torch", "-q")
    assert_clean_failure(result, message, before, tmp_path)


# --- the video corpus: valid inputs that must give correct output ---


def test_odd_tiny_deep_and_rotated_videos_come_out_whole(tmp_path: Path, run_cli, untrained_presets) -> None:
    """1x1, 2x2, odd sizes, 10-bit, 4:4:4 and a rotated phone clip: every frame, its size, its rotation."""
    cases = {
        "1x1": dict(size=(1, 1)),
        "2x2": dict(size=(2, 2)),
        "odd": dict(size=(35, 51)),
        "10bit": dict(size=SIZE, pix_fmt="yuv420p10le"),
        "yuv444": dict(size=SIZE, pix_fmt="yuv444p"),
        "rotated": dict(size=SIZE, rotation=90),
    }
    for name, options in cases.items():
        source = tmp_path / f"{name}.mp4"
        make_clip(source, frames=3, **options)
        with VideoReader(source) as reader:
            decoded = [item.image for item in reader if isinstance(item, DecodedFrame)]
        before = source.read_bytes()
        output = tmp_path / f"{name}_out.mp4"
        result = run_cli("video", source, output, "--backend", "torch", "-q")
        assert result.code == 0 and "Traceback" not in result.err, (name, result.err)
        assert source.read_bytes() == before
        with VideoReader(output) as reader:
            frames = [item.image for item in reader if isinstance(item, DecodedFrame)]
            assert len(frames) == 3, name
            assert frames[0].shape == decoded[0].shape, name
            if name == "rotated":
                assert reader.info.display_matrix is not None
            if name == "10bit":
                assert reader.info.pix_fmt == "yuv420p"  # derained to 8 bits, said in the docs
        # the untrained lite is an identity: what was decoded must come out, but for the encoding
        error = np.abs(frames[-1].astype(int) - decoded[-1].astype(int)).mean()
        assert error < 6, (name, error)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_an_image_named_mp4_is_read_for_what_it_is(tmp_path: Path, run_cli) -> None:
    """FFmpeg probes content, not names: a PNG called .mp4 is a one-frame video, derained as one."""
    source = tmp_path / "photo.mp4"
    source.write_bytes(cv2.imencode(".png", np.full((16, 16, 3), 90, np.uint8))[1].tobytes())
    result = run_cli("video", source, tmp_path / "out.mp4", "--backend", "torch", "-q")
    assert result.code == 0 and frame_count(tmp_path / "out.mp4") == 1


def test_corrupt_packets_midway_are_skipped_and_counted(tmp_path: Path, run_cli) -> None:
    clean, broken = tmp_path / "clean.mkv", tmp_path / "broken.mkv"
    make_clip(clean, frames=8, codec="mjpeg", pix_fmt="yuvj444p")
    with av.open(str(clean)) as source, av.open(str(broken), "w") as sink:
        stream = sink.add_stream_from_template(source.streams.video[0])
        for i, packet in enumerate(p for p in source.demux(video=0) if p.size):
            if i in (3, 4):
                garbage = av.Packet(np.random.default_rng(i).bytes(packet.size))
                garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
                packet = garbage
            packet.stream = stream
            sink.mux(packet)
    result = run_cli("video", broken, tmp_path / "out.mkv", "--backend", "torch", "--json")
    assert result.code == 0, result.err
    assert '"skipped_packets": 2' in result.out
    assert frame_count(tmp_path / "out.mkv") == 6


def test_a_clip_cut_in_the_middle_of_its_data_is_derained_as_far_as_it_goes_and_says_so(tmp_path: Path, run_cli) -> None:
    whole, indexed = tmp_path / "whole.mp4", tmp_path / "indexed.mp4"
    make_clip(whole, frames=20, size=SIZE)
    faststart(whole, indexed)
    data = indexed.read_bytes()
    source = tmp_path / "cut.mp4"
    source.write_bytes(data[: (data.find(b"mdat") + len(data)) // 2])
    result = run_cli("video", source, tmp_path / "out.mp4", "--backend", "torch", "-q")
    assert result.code == 0, result.err
    kept = frame_count(tmp_path / "out.mp4")
    assert 0 < kept < 20
    # the output is shorter than the file's own index says: the user must hear of it
    assert f"{kept} of 20 frames" in result.err and "truncated" in result.err


# --- outputs that cannot be written ---


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path: Path, run_cli) -> None:
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, size=SIZE)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    target = (Path("/proc") if os.geteuid() == 0 else locked) / "out.mp4"  # root writes through mode bits
    before = folder_state(tmp_path)
    result = run_cli("video", source, target, "--backend", "torch", "-q")
    assert_clean_failure(result, "not writable", before, tmp_path)


def run_with_file_size_limit(limit: int, *commands: list[str | Path]) -> list[tuple[int, str]]:
    """Each `derain COMMAND` in one process that may write no file past `limit` bytes: a disk that
    fills up. Returns (exit code, stderr) per command."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so write() fails with EFBIG, as ENOSPC would
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    driver = (
        "import sys, cli\n"
        "for args in eval(sys.argv[1]):\n"
        "    sys.argv = ['derain', *args]\n"
        "    try:\n"
        "        cli.main()\n"
        "    except SystemExit as stop:\n"
        "        print(f'@@exit {stop.code}', file=sys.stderr, flush=True)\n"
    )
    argv = repr([[*map(str, command), "--backend", "torch", "-q"] for command in commands])
    done = subprocess.run(
        [sys.executable, "-c", driver, argv], capture_output=True, text=True, preexec_fn=limited, cwd=REPO, timeout=120
    )
    results, err = [], ""
    for line in done.stderr.splitlines(keepends=True):
        if line.startswith("@@exit "):
            results.append((int(line.split()[1]), err))
            err = ""
        else:
            err += line
    assert len(results) == len(commands), done.stderr
    return results


def test_a_disk_that_fills_up_leaves_no_output(tmp_path: Path) -> None:
    make_clip(tmp_path / "in.mp4", frames=40, size=(64, 48))
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "in.png"), noise)  # noise: its PNG is bigger than the limit
    before = folder_state(tmp_path)
    commands = [["video", tmp_path / "in.mp4", tmp_path / "out.mp4"], ["image", tmp_path / "in.png", tmp_path / "out.png"]]
    for code, err in run_with_file_size_limit(4000, *commands):
        assert code != 0 and "Traceback" not in err, err
        lines = error_lines(err)
        assert len(lines) == 1 and "File too large" in lines[0], err
    assert folder_state(tmp_path) == before


# --- images ---


@pytest.mark.parametrize(
    "case, message",
    [("empty", "not a readable image"), ("random", "not a readable image"), ("directory", "no images found")],
)
def test_bad_image_input_is_one_line_and_leaves_nothing(tmp_path: Path, run_cli, case: str, message: str) -> None:
    source = tmp_path / "in.png"
    if case == "empty":
        source.write_bytes(b"")
    elif case == "random":
        source.write_bytes(np.random.default_rng(1).bytes(5000))
    else:
        source.mkdir()
    before = folder_state(tmp_path)
    result = run_cli("image", source, tmp_path / "out.png", "--backend", "torch", "-q")
    assert_clean_failure(result, message, before, tmp_path)


@pytest.mark.parametrize("shape, dtype", [((1, 1, 3), np.uint8), ((2, 2), np.uint8), ((7, 5, 3), np.uint16), ((9, 11, 4), np.uint8)])
def test_tiny_odd_deep_and_alpha_images_come_out_at_their_size(tmp_path: Path, run_cli, shape, dtype) -> None:
    image = np.random.default_rng(2).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), image)
    before = source.read_bytes()
    result = run_cli("image", source, tmp_path / "out.png", "--backend", "torch", "-q")
    assert result.code == 0, result.err
    out = read_image(tmp_path / "out.png")
    assert out.shape == read_image(source).shape and out.dtype == dtype
    assert source.read_bytes() == before


# --- models and engines ---


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("case", ["random", "text", "truncated", "pickle_runs_code", "wrong_format"])
def test_a_bad_checkpoint_is_refused_in_one_line(tmp_path: Path, run_cli, monkeypatch, case: str) -> None:
    monkeypatch.chdir(tmp_path)  # where the pickle would `touch pwned`
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), np.zeros((8, 8, 3), np.uint8))
    checkpoint = tmp_path / "model.pt"
    if case == "random":
        checkpoint.write_bytes(np.random.default_rng(3).bytes(4096))
    elif case == "text":  # the weights-only unpickler reads this as a memo lookup that fails
        checkpoint.write_text("hello world this is not a pickle\n")
    elif case == "truncated":
        save_checkpoint(checkpoint, Generator(TINY))
        checkpoint.write_bytes(checkpoint.read_bytes()[:-300])
    elif case == "pickle_runs_code":
        torch.save({"format": "stream-derain-generator", "x": RunsCode()}, checkpoint)
    else:
        torch.save({"weights": torch.zeros(3)}, checkpoint)
    before = folder_state(tmp_path)
    result = run_cli("image", source, tmp_path / "out.png", "--model", checkpoint, "--backend", "torch", "-q")
    message = {"pickle_runs_code": "refused", "wrong_format": "not a stream-derain"}.get(case, "corrupted")
    assert_clean_failure(result, message, before, tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_a_stale_or_corrupted_onnx_graph_is_rebuilt_not_run(tmp_path: Path, run_cli, engine_cache: Path) -> None:
    from engines.cache import default_folder, file_sha256, generator_sha256, manifest_path, onnx_path

    torch.manual_seed(5)
    generator = Generator(TINY)
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, generator)
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), np.full((12, 12, 3), 128, np.uint8))
    args = ("image", source, tmp_path / "out.png", "--model", checkpoint, "--backend", "onnxruntime", "-q", "--overwrite")
    assert run_cli(*args).code == 0
    graph = onnx_path(default_folder(generator_sha256(generator)), "restore", "fp32")
    good = file_sha256(graph)
    expected = cv2.imread(str(tmp_path / "out.png"))

    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])  # a damaged file
    result = run_cli(*args)
    assert result.code == 0, result.err
    assert file_sha256(graph) == good and np.array_equal(cv2.imread(str(tmp_path / "out.png")), expected)

    manifest = manifest_path(graph)  # made from other weights: stale
    manifest.write_text(manifest.read_text().replace(generator_sha256(generator), "0" * 64))
    result = run_cli(*args)
    assert result.code == 0, result.err
    assert generator_sha256(generator) in manifest.read_text()


def test_tensorrt_without_a_gpu_is_one_line(tmp_path: Path, run_cli) -> None:
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), np.zeros((8, 8, 3), np.uint8))
    before = folder_state(tmp_path)
    result = run_cli("image", source, tmp_path / "out.png", "--backend", "tensorrt", "-q")
    assert_clean_failure(result, "CUDA", before, tmp_path)


# --- 8K ---


def test_an_8k_frame_goes_through_the_reader_and_writer(tmp_path: Path) -> None:
    """8K through the model is the tiling tests' job (tests/test_tiling.py); here only the I/O."""
    from stream_derain.video import EncoderOptions, VideoWriter

    height, width = 4320, 7680
    ramp = np.linspace(0, 255, width, dtype=np.uint8)
    image = np.broadcast_to(ramp[None, :, None], (height, width, 3)).copy()
    source, target = tmp_path / "8k.mp4", tmp_path / "8k_out.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    with VideoReader(source) as reader:
        frames = [item for item in reader if isinstance(item, DecodedFrame)]
        assert len(frames) == 1 and frames[0].image.shape == (height, width, 3)
        writer = VideoWriter(target, reader.info, EncoderOptions(preset="ultrafast"))
        writer.write_frame(frames[0].image, frames[0].pts)
        writer.close()
    with VideoReader(target) as reader:
        out = next(item for item in reader if isinstance(item, DecodedFrame))
    assert out.image.shape == (height, width, 3)
    assert np.abs(out.image[::97, ::97].astype(int) - image[::97, ::97]).mean() < 3


@pytest.mark.parametrize("damage", ["truncated", "bad_crc"])
def test_a_damaged_png_is_one_line_with_libpngs_reason_and_nothing_else_on_stderr(tmp_path: Path, capfd, damage: str) -> None:
    """libpng and OpenCV write their complaints straight to file descriptor 2: a user must see
    one line, not theirs and then ours."""
    path = tmp_path / "damaged.png"
    cv2.imwrite(str(path), np.random.default_rng(4).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[200:210] = bytes(10)
    path.write_bytes(bytes(data))
    capfd.readouterr()
    with pytest.raises(DerainError, match=r"is not a readable image \(.+\)") as caught:
        read_image(path)
    assert "\n" not in str(caught.value)
    assert capfd.readouterr().err == ""
