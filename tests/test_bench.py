import json
from dataclasses import replace

import pytest

from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.bench import bench_inference, parse_resolution
from stream_derain.cost import count_macs
from stream_derain.models import LITE, build_generator


def test_resolutions_parse_by_name_and_size():
    assert parse_resolution("1080p") == (1080, 1920)
    assert parse_resolution("4K") == (2160, 3840)
    assert parse_resolution("481x721") == (481, 721)
    for bad in ("720", "0x10", "ax b", ""):
        with pytest.raises(ValueError):
            parse_resolution(bad)


def test_reuse_skips_arn_steps_and_the_count_shows_it():
    generator = build_generator("lite")
    runner = TorchRunner(generator)
    none = bench_inference(runner, generator, 32, 48, batch=2, reuse="none", frames=4, warmup=0, repeats=1)
    keyframe = bench_inference(runner, generator, 32, 48, batch=2, reuse="keyframe:4", frames=4, warmup=0, repeats=1)
    assert none.arn_steps_per_frame == 4.0
    assert keyframe.arn_steps_per_frame == 1.0  # one full pass of 4 steps per 4 frames
    assert none.fps_median > 0 and none.tflops > 0 and none.peak_host_mib > 0


def test_the_second_map_counts_its_small_frame_at_its_share_of_pixels():
    generator = build_generator(replace(LITE, map_zoom=0.5))
    bench = bench_inference(TorchRunner(generator), generator, 64, 96, batch=1, reuse="none", frames=1, warmup=0, repeats=1)
    # 4 steps at 64x96, then 4 at 32x48 (already a multiple of 16: no padding)
    assert bench.arn_steps_per_frame == 5.0
    macs = count_macs(generator.to("meta"), 64, 96)
    assert bench.tflops == pytest.approx(2 * macs["total"] * bench.fps_median / 1e12, rel=0.01)


def test_cli_writes_a_json_record(tmp_path, run_cli):
    out = tmp_path / "bench.json"
    result = run_cli("bench", "--backend", "torch", "-r", "32x48", "--frames", "1", "--repeats", "1", "--json", out)
    assert result.code == 0, result.err
    record = json.loads(out.read_text())[0]
    assert record["resolution"] == [32, 48] and record["backend"].startswith("torch")


def test_cli_rejects_a_bad_resolution(run_cli):
    result = run_cli("bench", "-r", "huge")
    assert result.code == 2 and "bad resolution" in result.err


def test_end_to_end_runs_the_video_pipeline_on_a_clip_it_renders(tmp_path, run_cli):
    out = tmp_path / "bench.json"
    result = run_cli("bench", "--backend", "torch", "-r", "32x48", "--frames", "4", "--batch", "2",
                     "--repeats", "1", "--e2e", "--e2e-frames", "6", "--json", out)
    assert result.code == 0, result.err
    e2e = json.loads(out.read_text())[0]["end_to_end"]
    assert e2e["frames"] == 6 and e2e["fps"] > 0 and e2e["inference_fps"] > 0
    assert set(e2e["stage_seconds"]) == {"decode", "preprocess", "inference", "postprocess", "encode"}
    assert e2e["stage_seconds"]["inference"] > 0


def test_a_bench_clip_longer_than_its_rendered_frames_plays_them_back_and_forth(tmp_path):
    import av
    import numpy as np

    from stream_derain.bench import RENDERED_FRAMES, render_bench_clip

    clip = render_bench_clip(tmp_path / "rain.mp4", 32, 48, 2 * RENDERED_FRAMES + 3)
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]
    assert len(frames) == 2 * RENDERED_FRAMES + 3

    def close(a: int, b: int) -> bool:  # the same rendered frame, through a lossy encode
        return np.abs(frames[a] - frames[b]).mean() < np.abs(frames[a] - frames[a - 1]).mean() / 2

    last = RENDERED_FRAMES - 1  # it turns at the last rendered frame and again at the first
    assert close(last + 2, last - 2) and close(2 * last + 1, 2 * last - 1)
