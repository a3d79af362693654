"""VideoReader and VideoWriter on their own: a copy through them keeps frames, timing, tags, audio."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from test_video_clips import HEIGHT, WIDTH, decoded_timing, demuxed, make_audio_only, make_clip, make_lavfi_clip

from stream_derain.errors import DerainError
from stream_derain.video import DecodedFrame, EncoderOptions, VideoReader, VideoWriter, plan_video_job
from stream_derain.video.writer import parse_bitrate


def copy_through(source: Path, target: Path, options: EncoderOptions = EncoderOptions()) -> list[DecodedFrame]:
    """Decode and re-encode unchanged, as the pipeline does with an identity model."""
    frames = []
    with VideoReader(source) as reader:
        writer = VideoWriter(target, reader.info, options, reader.passthrough_streams)
        for item in reader:
            if isinstance(item, DecodedFrame):
                frames.append(item)
                writer.write_frame(item.image, item.pts, item.duration)
            else:
                writer.write_packet(item)
        writer.close()
    return frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def test_reader_yields_every_frame_with_its_timestamp_and_the_sources_properties(tmp_path: Path) -> None:
    path = tmp_path / "in.mp4"
    images = make_clip(path, frames=7, rotation=-90, full_range_bt709=True)
    with VideoReader(path) as reader:
        info = reader.info
        frames = [item for item in reader if isinstance(item, DecodedFrame)]
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    assert info.frame_rate == 10 and info.frames == 7
    assert (info.color_range, info.colorspace) == (2, 1)
    assert info.display_matrix is not None
    assert [f.index for f in frames] == list(range(7))
    assert [f.pts for f in frames] == [pts for pts, _ in decoded_timing(path)]
    assert all(f.image.shape == (HEIGHT, WIDTH, 3) and f.image.dtype == np.uint8 for f in frames)
    assert min(psnr(f.image, image) for f, image in zip(frames, images)) > 35


def test_copy_keeps_frames_timing_size_audio_bytes_rotation_and_tags(tmp_path: Path) -> None:
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(source, frames=10, audio_layout="5.1", rotation=90, full_range_bt709=True)
    frames = copy_through(source, target)
    assert len(frames) == 10
    assert decoded_timing(target) == decoded_timing(source)
    assert demuxed(target, "audio") == demuxed(source, "audio")  # byte for byte, same timestamps
    with av.open(str(source)) as a, av.open(str(target)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert vb.time_base == va.time_base and vb.average_rate == va.average_rate
        assert b.streams.audio[0].codec_context.layout.name == "5.1"
        fa, fb = next(a.decode(video=0)), next(b.decode(video=0))
        assert (fb.width, fb.height) == (WIDTH, HEIGHT)
        assert (fb.rotation, fb.color_range, fb.colorspace, fb.color_primaries, fb.color_trc) == (90, 2, 1, 1, 1)
        assert psnr(fb.to_ndarray(format="rgb24"), fa.to_ndarray(format="rgb24")) > 35


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_variable_frame_rate_timestamps_survive(tmp_path: Path, suffix: str) -> None:
    source, target = tmp_path / f"vfr{suffix}", tmp_path / f"out{suffix}"
    make_clip(source, pts=[0, 40, 160, 200, 420, 460, 470, 600])
    copy_through(source, target)
    if suffix == ".mkv":
        assert decoded_timing(target) == decoded_timing(source)
    else:
        # MP4 stores no display durations, only decode-time deltas, which B-frames reorder
        assert [pts for pts, _ in decoded_timing(target)] == [pts for pts, _ in decoded_timing(source)]
    with av.open(str(source)) as a, av.open(str(target)) as b:
        assert b.streams.video[0].time_base == a.streams.video[0].time_base


def test_subtitles_are_copied_packet_for_packet(tmp_path: Path) -> None:
    source, target = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(source, audio_layout="stereo", subtitles=True)
    copy_through(source, target)
    assert demuxed(target, "subtitle") == demuxed(source, "subtitle")
    assert demuxed(target, "audio") == demuxed(source, "audio")


def test_lavfi_mpeg4_avi_in_and_vp9_webm_out(tmp_path: Path) -> None:
    source, target = tmp_path / "in.avi", tmp_path / "out.webm"
    make_lavfi_clip(source, frames=6)
    frames = copy_through(source, target, EncoderOptions("libvpx-vp9", crf=20))
    assert len(frames) == 6
    with av.open(str(target)) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
        assert len(list(container.decode(video=0))) == 6


def test_a_corrupt_packet_is_skipped_and_counted(tmp_path: Path) -> None:
    clean, broken = tmp_path / "clean.mkv", tmp_path / "broken.mkv"
    make_clip(clean, frames=8, codec="mjpeg", pix_fmt="yuvj444p")
    with av.open(str(clean)) as source, av.open(str(broken), "w") as sink:
        stream = sink.add_stream_from_template(source.streams.video[0])
        for i, packet in enumerate(p for p in source.demux(video=0) if p.size):
            if i == 4:  # the middle of the clip: garbage where a JPEG should be
                garbage = av.Packet(b"\x00" * 64)
                garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
                packet = garbage
            packet.stream = stream
            sink.mux(packet)
    with VideoReader(broken) as reader:
        frames = [item for item in reader if isinstance(item, DecodedFrame)]
        assert reader.skipped_packets == 1
    assert len(frames) == 7


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    audio_only, junk, unknown = tmp_path / "a.m4a", tmp_path / "junk.mp4", tmp_path / "unknown.mkv"
    make_audio_only(audio_only)
    junk.write_bytes(b"this is not a video" * 10)
    known = tmp_path / "known.mkv"
    make_clip(known, codec="mjpeg", pix_fmt="yuvj444p")
    unknown.write_bytes(known.read_bytes().replace(b"V_MJPEG", b"V_QQQQQ"))  # a codec id FFmpeg lacks
    for path, words in [
        (audio_only, "no video stream"),
        (junk, "cannot read"),
        (unknown, "unknown video codec"),
        (tmp_path / "missing.mp4", "not found"),
    ]:
        with pytest.raises(DerainError, match=words) as caught:
            VideoReader(path)
        assert "\n" not in str(caught.value)


def test_writer_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    make_clip(source, audio_layout="stereo")
    with VideoReader(source) as reader:
        info, streams = reader.info, reader.passthrough_streams
        cases = [
            (tmp_path / "a.webm", EncoderOptions("libvpx-vp9"), streams, "cannot hold the aac audio"),
            (tmp_path / "b.webm", EncoderOptions(), (), "cannot hold the libx264"),
            (tmp_path / "c.mp4", EncoderOptions("libsvtav1"), (), "odd frame size"),
            (tmp_path / "d.mp4", EncoderOptions(pix_fmt="yuv420p"), (), "odd frame size"),
            (tmp_path / "e.mp4", EncoderOptions("mpeg2video"), (), "unknown encoder"),
            (tmp_path / "f.mp4", EncoderOptions(crf=20, bitrate="2M"), (), "exclude each other"),
            (tmp_path / "g.unknownext", EncoderOptions(), (), "cannot tell the container"),
        ]
        for path, options, passthrough, words in cases:
            with pytest.raises(DerainError, match=words):
                VideoWriter(path, info, options, passthrough)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_bitrate_and_even_size_options_reach_the_encoder(tmp_path: Path) -> None:
    source, target = tmp_path / "in.mp4", tmp_path / "out.mkv"
    # Two 64-pixel CTUs across: libx265 once aborted (intermittently, in the full suite) on a 48x32
    # frame, smaller than one CTU, a size no user encodes.
    make_clip(source, size=(128, 96), frames=4)
    copy_through(source, target, EncoderOptions("libx265", bitrate="300k", preset="ultrafast"))
    with av.open(str(target)) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.pix_fmt) == ("hevc", "yuv420p")
    assert parse_bitrate("4M") == 4_000_000 and parse_bitrate("800k") == 800_000
    with pytest.raises(DerainError):
        parse_bitrate("fast")


def test_plan_video_job_pairs_inputs_with_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("b.mp4", "a.MKV", "notes.txt"):
        (folder / name).write_bytes(b"x")
    out = tmp_path / "out"
    assert plan_video_job([folder], out) == [(folder / "a.MKV", out / "a.MKV"), (folder / "b.mp4", out / "b.mp4")]
    assert out.is_dir()
    assert plan_video_job([tmp_path / "in.mp4", tmp_path / "o.mp4"]) == [(tmp_path / "in.mp4", tmp_path / "o.mp4")]
    with pytest.raises(DerainError, match="--out-dir"):
        plan_video_job([folder, tmp_path / "x.mp4", tmp_path / "y.mp4"])
    with pytest.raises(DerainError, match="folder"):
        plan_video_job([folder, tmp_path / "o.mp4"])
    with pytest.raises(DerainError, match="clash"):
        plan_video_job([folder / "b.mp4", folder / "b.mp4"], out)
