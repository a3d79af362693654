"""`derain live` in process: sources, the latest-frame hand-off, stats, sinks, and the session
against lavfi graphs and files (network streams: test_live_streams.py)."""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.checkpoint import load_model
from stream_derain.errors import DerainError
from stream_derain.live import _SceneCuts, derain_live
from stream_derain.live_stats import LatencyHistogram, LiveStats
from stream_derain.models import Generator
from stream_derain.video.live_sinks import ViewState, compose_view
from stream_derain.video.live_source import LatestFrame, LiveFrame, LiveSource, ShowTimes, SourceSpec, parse_source

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("one_thread")]

LAVFI = "lavfi:testsrc2=size=64x48:rate={rate}"




class SlowRunner(TorchRunner):
    """Inference slowed on purpose, to see that stale frames are dropped, not queued."""

    def __init__(self, generator: Generator, delay: float) -> None:
        super().__init__(generator)
        self.delay = delay

    def restore(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        return super().restore(x, mask)


def write_clip(path, frames: int, rate: int = 20) -> None:
    with av.open(str(path), "w", format="mpegts" if path.suffix == ".ts" else None) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            image = np.zeros((48, 64, 3), np.uint8)
            image[:, (i * 4) % 60:(i * 4) % 60 + 4, 0] = 255  # a red bar: shows a swapped channel order
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def decoded_frames(path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


# --- sources ---


def test_parse_source_kinds_and_loopback_defaults(tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    assert parse_source("0").kind == "device"
    assert parse_source("/dev/video2").kind == "device"
    assert parse_source("lavfi:testsrc2").target == "testsrc2"
    assert parse_source(str(clip)).kind == "file"
    # a UDP listener binds to loopback unless its URL names another address
    assert parse_source("udp://:5000").target == "udp://127.0.0.1:5000?localaddr=127.0.0.1"
    assert parse_source("udp://0.0.0.0:5000?fifo_size=9").target == "udp://0.0.0.0:5000?fifo_size=9&localaddr=0.0.0.0"
    assert parse_source("tcp://:9000?listen").target == "tcp://127.0.0.1:9000?listen"
    assert parse_source("rtsp://cam.local/s?x=1").target == "rtsp://cam.local/s?x=1"
    for bad in ("ftp://x/y", "lavfi:", str(tmp_path / "missing.mp4"), "udp://x:port"):
        with pytest.raises(DerainError):
            parse_source(bad)


def test_latest_frame_keeps_the_newest_and_counts_drops():
    slot = LatestFrame()
    for i in range(3):
        slot.put(LiveFrame(np.zeros((2, 2, 3), np.uint8), float(i), float(i), i, 0))
    assert slot.take(0.01).index == 2
    assert slot.dropped == 2
    assert slot.take(0.01) is None


def test_latest_frame_at_close_discards_the_untaken_frame_and_refuses_more():
    slot = LatestFrame()
    for i in range(2):
        slot.put(LiveFrame(np.zeros((2, 2, 3), np.uint8), float(i), float(i), i, 0))
    slot.close()
    slot.put(LiveFrame(np.zeros((2, 2, 3), np.uint8), 2.0, 2.0, 2, 0))
    assert (slot.accepted, slot.dropped, slot.discarded) == (2, 1, 1)
    assert slot.take(0.01) is None


def test_show_times_keep_the_sources_spacing_through_a_burst():
    show = ShowTimes()
    # three frames 40 ms apart in the stream arrive together at 10.0 s, then one in real time
    assert [show(pts, captured, 0) for pts, captured in [(0.0, 10.0), (0.04, 10.0), (0.08, 10.001), (0.12, 10.04)]] == pytest.approx([10.0, 10.04, 10.08, 10.12])
    # a jump back (a loop) or a reconnect goes on from the last show time, one step later
    assert show(0.0, 10.05, 0) == pytest.approx(10.16)
    assert show(0.04, 10.09, 1) == pytest.approx(10.2)
    # past the jump, the capture clock takes over when it is later
    assert show(50.0, 11.0, 1) == pytest.approx(11.0)


def test_show_times_without_timestamps_are_capture_times():
    show = ShowTimes()
    assert [show(None, t, 0) for t in (5.0, 5.03, 5.07)] == [5.0, 5.03, 5.07]


def test_lossless_slot_waits_instead_of_dropping():
    slot = LatestFrame(lossless=True)
    slot.put(LiveFrame(np.zeros((2, 2, 3), np.uint8), 0.0, 0.0, 0, 0))
    started = time.monotonic()
    threading.Timer(0.3, lambda: slot.take(0.01)).start()
    slot.put(LiveFrame(np.zeros((2, 2, 3), np.uint8), 1.0, 1.0, 1, 0))
    assert time.monotonic() - started >= 0.25
    assert slot.take(0.01).index == 1 and slot.dropped == 0


def test_camera_frames_come_through_opencv_as_rgb(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, 5)
    # OpenCV opens a file the way it opens a camera: the same capture path, testable without one
    source = LiveSource(SourceSpec("device", str(clip), "camera")).start()
    frames = []
    while not source.finished:
        if (frame := source.take(0.5)) is not None:
            frames.append(frame)
    source.close()
    assert source.frames_in == 5 and source.ended.startswith("camera") and len(frames) >= 1
    index = frames[0].index
    bar = frames[0].image[:, (index * 4) % 60 + 1].mean(axis=0)
    assert bar[0] > bar[2] + 100  # red stays red


# --- stats ---


def test_latency_percentiles_are_within_one_percent():
    rng = np.random.default_rng(0)
    samples = rng.lognormal(mean=-3, sigma=1, size=5000)
    histogram = LatencyHistogram()
    for value in samples:
        histogram.add(float(value))
    for q in (50, 95):
        assert histogram.percentile(q) == pytest.approx(np.percentile(samples, q), rel=0.011)
    assert histogram.max == samples.max()
    assert LatencyHistogram().percentile(95) == 0.0


def test_stats_keep_a_p95_per_period():
    stats = LiveStats(period=1.0)
    for i in range(30):  # 3 s of frames at 10 fps, latency rising from 10 to 300 ms
        now = stats.started + i / 10
        stats.output(captured=now - 0.01 * (i + 1), now=now)
    periods = stats.period_p95s()
    assert len(periods) == 3 and periods[0] < periods[1] < periods[2]
    assert stats.latency.summary_ms()["max"] == pytest.approx(300, rel=0.01)


# --- window ---


def test_keys_toggle_the_view():
    view = ViewState()
    for key in map(ord, "sm "):
        view.handle_key(key)
    assert view.side_by_side and view.show_mask and view.paused and not view.quit
    view.handle_key(-1)  # no key pressed
    assert not view.quit
    view.handle_key(ord("q"))
    assert view.quit


def test_compose_view_side_by_side_with_mask_overlay():
    original = np.zeros((48, 64, 3), np.uint8)
    derained = np.full((48, 64, 3), 100, np.uint8)
    mask = np.zeros((48, 64), np.float32)
    mask[:, :32] = 1.0
    view = compose_view(original, derained, mask, side_by_side=True, lines=[])
    assert view.shape == (48, 128, 3)
    assert (view[:, :64] == 0).all()  # the original, untouched
    left, right = view[40, 64 + 8], view[40, 64 + 48]  # BGR: drops tinted red, the rest as derained
    assert left[2] > 150 and left[0] < 60 and (right == 100).all()


def test_display_needs_a_display(tiny, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DerainError, match="no-display"):
        derain_live(LAVFI.format(rate=10), model=tiny, runner=TorchRunner(tiny.generator), max_frames=1)


# --- session ---


def test_scene_cut_resets_on_a_new_picture():
    cuts = _SceneCuts(threshold=0.25)
    dark, bright = np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 200, np.uint8)
    assert [cuts(dark), cuts(dark + 5), cuts(bright), cuts(bright)] == [False, False, True, False]


def test_lavfi_source_is_paced_in_real_time(tiny, tmp_path):
    out = tmp_path / "rec.mp4"
    summary = derain_live(
        LAVFI.format(rate=20), model=tiny, runner=TorchRunner(tiny.generator), display=False, duration=2.0, record=out
    )
    assert summary.stopped == "duration"
    assert 15 <= summary.frames_in / summary.seconds <= 22  # the graph's 20 fps, not as fast as it renders
    frames = decoded_frames(out)
    assert len(frames) == summary.frames_out > 10
    # the graph's timestamps set the spacing: the recording lasts as long as the run did
    assert frames[-1].time - frames[0].time == pytest.approx(summary.frames_in / 20, abs=0.4)


def test_file_without_realtime_loses_no_frame_and_loops(tiny, tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, 12)
    runner = TorchRunner(tiny.generator)
    once = derain_live(str(clip), model=tiny, runner=runner, display=False, duration=20)
    assert (once.frames_out, once.dropped, once.stopped) == (12, 0, "end of stream")
    looped = derain_live(str(clip), model=tiny, runner=runner, display=False, loop=True, max_frames=30, duration=20)
    assert (looped.frames_out, looped.dropped, looped.stopped) == (30, 0, "max frames")


def test_file_in_realtime_takes_its_own_duration(tiny, tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, 20, rate=20)
    summary = derain_live(str(clip), model=tiny, runner=TorchRunner(tiny.generator), display=False, realtime=True, duration=20)
    assert summary.stopped == "end of stream"
    assert summary.seconds >= 0.9  # 20 frames at 20 fps


def test_corrupt_data_does_not_end_the_run(tiny, tmp_path):
    clip = tmp_path / "clip.ts"
    write_clip(clip, 40)
    data = bytearray(clip.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    summary = derain_live(str(clip), model=tiny, runner=TorchRunner(tiny.generator), display=False, duration=20)
    assert summary.stopped == "end of stream"
    assert 20 <= summary.frames_out <= 40


def test_slow_inference_drops_frames_and_latency_stays_bounded(tiny):
    delay = 0.15
    summary = derain_live(
        LAVFI.format(rate=25), model=tiny, runner=SlowRunner(tiny.generator, delay), display=False, duration=3.0
    )
    assert summary.frames_out < summary.frames_in / 2
    assert summary.dropped == summary.frames_in - summary.frames_out  # every captured frame is accounted for
    # queued frames would wait ever longer (about 2.5 s by the end); the newest frame waits at
    # most one inference, plus one inference's time to get through itself
    latency = summary.latency_ms
    assert latency["max"] < 1000 * (3 * delay + 0.2), latency
    assert latency["p95"] < 1000 * (2 * delay + 0.1), latency


def test_cli_warns_when_the_model_is_untrained(run_cli):
    result = run_cli("live", LAVFI.format(rate=25), "--no-display", "--backend", "torch", "--max-frames", "2", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["frames_out"] == 2 and summary["model"] == load_model("lite").source
    assert ("NOT deraining" in result.err) == (not summary["trained"])


def test_a_source_that_cannot_open_is_a_user_error(tiny, tmp_path):
    out = tmp_path / "rec.mp4"
    with pytest.raises(DerainError, match="cannot read"):
        derain_live("lavfi:nosuchfilter", model=tiny, runner=TorchRunner(tiny.generator), display=False, record=out, duration=10)
    assert list(tmp_path.iterdir()) == []  # no recording, not even a partial one
