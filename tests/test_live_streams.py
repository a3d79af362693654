"""`derain live` against real streams on loopback: a second process sends MPEG-TS over UDP or
TCP (PyAV), and the CLI derains, records and re-streams it; Ctrl-C and SIGTERM mid-run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest

from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.checkpoint import save_checkpoint
from stream_derain.live import derain_live

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("one_thread")]

ROOT = Path(__file__).resolve().parents[1]
# A camera on the network: a moving bar, H.264 (zerolatency, a key frame every 5) in MPEG-TS,
# sent `burst` frames at a time (a jittery link) at `fps` on average.
SENDER = r"""
import sys, time, av, numpy as np
url, frames, fps, burst = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
out = av.open(url, "w", format="mpegts")
stream = out.add_stream("libx264", rate=int(fps))
stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "5"}
start = time.monotonic()
for i in range(frames):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, (i * 3) % 64] = 255
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts = i
    out.mux(stream.encode(frame))
    if (i + 1) % burst == 0:
        time.sleep(max(0.0, start + (i + 1) / fps - time.monotonic()))
out.mux(stream.encode(None))
out.close()
"""
# A viewer on the network: counts the frames it decodes until the stream goes quiet.
RECEIVER = r"""
import sys, av
count, size = 0, None
try:
    with av.open(sys.argv[1], format="mpegts", timeout=(10, 2)) as container:
        for frame in container.decode(video=0):
            count, size = count + 1, (frame.width, frame.height)
except av.FFmpegError:
    pass
print(count, size)
"""




@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, tiny) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, tiny.generator)
    return path


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def send(url: str, frames: int, fps: float = 25, burst: int = 1) -> subprocess.Popen:
    return python(SENDER, url, frames, fps, burst)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


def test_udp_stream_is_derained_and_recorded_headless(run_cli, tiny_checkpoint, tmp_path):
    port = free_port()
    out = tmp_path / "out.mp4"
    sender = send(f"udp://127.0.0.1:{port}?pkt_size=1316", frames=400, burst=5)
    try:
        result = run_cli(
            "live", f"udp://127.0.0.1:{port}", "--no-display", "--record", out, "--model", tiny_checkpoint,
            "--backend", "torch", "--max-frames", "20", "--duration", "30", "--json",
        )
    finally:
        stop(sender)
    assert result.code == 0, result.err
    summary = json.loads(result.out.strip().splitlines()[-1])
    assert summary["stopped"] == "max frames" and summary["frames_out"] == 20
    assert (summary["width"], summary["height"]) == (64, 48)
    assert summary["latency_ms"]["p50"] > 0 and summary["dropped"] >= 0
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 20 and (frames[0].width, frames[0].height) == (64, 48)
    # timed by the stream's own clock, not by arrival: though the frames came in bursts of 5, each
    # step is a whole number of the stream's 40 ms frames (more than one where frames were dropped)
    steps = [(b.time - a.time) * 25 for a, b in zip(frames, frames[1:])]
    assert all(round(step) >= 1 and abs(step - round(step)) < 0.05 for step in steps), steps
    assert frames[-1].time - frames[0].time <= (summary["frames_in"] - 1) / 25 + 0.002
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_tcp_disconnect_then_reconnect(tiny):
    port = free_port(socket.SOCK_STREAM)
    url = f"tcp://127.0.0.1:{port}?listen=1&listen_timeout=20000"
    log: list[str] = []
    first = send(url, frames=25)
    second: list[subprocess.Popen] = []

    def camera_comes_back() -> None:
        first.wait(timeout=30)
        time.sleep(1.0)  # the receiver sees end of stream, then connection refused: backoff
        second.append(send(url, frames=200))

    helper = threading.Thread(target=camera_comes_back, daemon=True)
    helper.start()
    try:
        summary = derain_live(
            f"tcp://127.0.0.1:{port}", model=tiny, runner=TorchRunner(tiny.generator), display=False,
            stall_timeout=1.0, max_frames=40, duration=40, log=log.append,
        )
    finally:
        helper.join(timeout=30)
        stop(first)
        for process in second:
            stop(process)
    assert summary.stopped == "max frames", (summary, log)
    assert summary.reconnects == 1, log
    assert any("reconnecting" in line for line in log) and any("is back" in line for line in log)


def test_live_output_is_restreamed_over_udp(tiny):
    port = free_port()
    receiver = python(RECEIVER, f"udp://127.0.0.1:{port}?localaddr=127.0.0.1")
    time.sleep(1.5)  # the viewer is listening before the stream starts
    try:
        summary = derain_live(
            "lavfi:testsrc2=size=64x48:rate=25,format=rgb24,crop=63:47", model=tiny, runner=TorchRunner(tiny.generator), display=False,
            stream=f"udp://127.0.0.1:{port}", max_frames=40, duration=20,
        )
        out, err = receiver.communicate(timeout=20)
    finally:
        stop(receiver)
    assert summary.warnings == []
    count, size = out.split(maxsplit=1)
    assert int(count) >= 20, err
    assert size.strip() == "(64, 48)"  # odd sizes are padded to even for 4:2:0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_a_valid_recording(tiny_checkpoint, tmp_path, sig):
    out = tmp_path / "out.mp4"
    run = python(
        "import cli; cli.main()", "live", "lavfi:testsrc2=size=64x48:rate=25", "--no-display", "--record", out,
        "--model", tiny_checkpoint, "--backend", "torch", "--duration", "40", "--json",
    )
    try:
        deadline = time.monotonic() + 40
        while not list(tmp_path.glob(".out.partial-*.mp4")) and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)  # some frames into the recording
        run.send_signal(sig)
        stdout, stderr = run.communicate(timeout=20)
    finally:
        stop(run)
    assert run.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"] == ("interrupted" if sig == signal.SIGINT else "SIGTERM")
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == summary["frames_out"] >= 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
