"""Raindrop synthesis: determinism, masks, files, video timing."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from stream_derain.errors import DerainError
from stream_derain.synth.bokeh import add_bokeh, defocus_scene
from stream_derain.synth.mask import channel_max
from stream_derain.synth import (
    RainConfig,
    RainySample,
    WetGlass,
    available_sources,
    export_sources,
    paper_mask,
    render_clip,
    synth_images,
    synth_path,
    synth_video,
    synthesize,
)


def scene(height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth, textured clean image: refraction shows on it."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


DENSE = RainConfig(density=(0.4, 0.5), radius=(3.0, 12.0))


def test_same_seed_same_drops_bit_for_bit() -> None:
    first, second = synthesize(scene(), 7, DENSE), synthesize(scene(), 7, DENSE)
    assert np.array_equal(first.rain, second.rain)
    assert np.array_equal(first.soft_mask, second.soft_mask)
    assert np.array_equal(first.mask, second.mask)
    assert not np.array_equal(first.rain, synthesize(scene(), 8, DENSE).rain)


def test_outputs_have_the_promised_types_and_ranges() -> None:
    sample = synthesize(scene(), 1, DENSE)
    assert sample.rain.shape == sample.clean.shape == (64, 96, 3) and sample.rain.dtype == np.uint8
    assert sample.soft_mask.shape == (64, 96) and sample.soft_mask.dtype == np.float32
    assert 0 <= sample.soft_mask.min() and sample.soft_mask.max() <= 1
    assert sample.mask.dtype == bool and sample.mask.any()
    assert np.array_equal(sample.clean, scene())


@pytest.mark.parametrize("image", [scene(), np.full((64, 96, 3), 128, np.uint8)], ids=["textured", "flat"])
def test_mask_is_zero_wherever_rain_equals_clean(image: np.ndarray) -> None:
    for seed in range(4):
        sample = synthesize(image, seed, RainConfig(density=(0.15, 0.2), radius=(3.0, 12.0), veil=(0.0, 0.0)))
        unchanged = (sample.rain == sample.clean).all(axis=2)
        assert unchanged.any()
        assert not sample.mask[unchanged].any()
        assert not sample.mask[sample.soft_mask == 0].any()


def test_mask_is_the_papers_threshold_on_the_local_mean_inside_drops() -> None:
    sample = synthesize(scene(), 3, RainConfig(density=(0.3, 0.3), veil=(0.0, 0.0)))
    difference = cv2.blur(cv2.absdiff(sample.rain, sample.clean).max(axis=2).astype(np.float32), (5, 5))
    assert np.array_equal(sample.mask, (difference > 30) & (sample.soft_mask > 0.05))


def test_mask_is_solid_over_fine_texture() -> None:
    """A drop over grain: its soft view differs from some grains and matches others; the
    target marks the drop, not a speckle of the pixels that happen to differ."""
    grain = np.random.default_rng(0).uniform(20, 236, (96, 96))
    clean = np.repeat(grain[..., None], 3, axis=2).astype(np.uint8)
    config = RainConfig(density=(0.2, 0.2), radius=(10.0, 14.0), focus_mix=0.0, haze=(0.0, 0.0), veil=(0.0, 0.0))
    sample = synthesize(clean, 1, config)
    inside = sample.soft_mask > 0.9
    assert sample.mask[inside].mean() > 0.9
    pixelwise = cv2.absdiff(sample.rain, sample.clean).max(axis=2) > 30
    assert pixelwise[inside].mean() < 0.8  # the pixelwise target would be speckled here


def test_veil_grows_with_the_water_on_the_glass() -> None:
    """The veil is the drops' film and scattered light: a few drops barely veil the frame."""
    flat = np.full((96, 128, 3), 60, np.uint8)

    def veil_outside_drops(density: float) -> float:
        config = RainConfig(density=(density, density), radius=(3.0, 8.0), focus_mix=0.0, veil=(0.2, 0.2))
        sample = synthesize(flat, 5, config)
        dry = sample.soft_mask == 0
        return float(sample.rain[dry].mean()) - 60

    few, many = veil_outside_drops(0.03), veil_outside_drops(0.35)
    assert 0 <= few < many / 3
    assert many > 20  # a full-strength veil of 0.2 over a dark frame lifts it by tens of levels


def test_a_spread_veil_follows_the_local_coverage_of_the_drops() -> None:
    flat = np.full((96, 192, 3), 60, np.uint8)

    def dry_lift(spread: float) -> tuple[np.ndarray, np.ndarray]:
        config = RainConfig(density=(0.2, 0.2), radius=(3.0, 8.0), focus_mix=0.0, veil=(0.2, 0.2), veil_spread=spread)
        sample = synthesize(flat, 5, config)
        dry = sample.soft_mask == 0
        coverage = cv2.GaussianBlur(sample.soft_mask, (0, 0), 16)
        return sample.rain[dry].mean(axis=1) - 60.0, coverage[dry]

    lift, _ = dry_lift(0.0)
    assert lift.std() < 1  # one strength over the frame
    lift, coverage = dry_lift(16.0)
    assert lift.std() > 3 and np.corrcoef(lift, coverage)[0, 1] > 0.8
    with pytest.raises(DerainError, match="veil spread"):
        RainConfig(veil_spread=-1.0)


def test_veil_chance_leaves_some_frames_unveiled_and_the_rest_as_before() -> None:
    clean = np.full((64, 96, 3), 60, np.uint8)
    veiled = RainConfig(veil=(0.2, 0.2))
    looks = [synthesize(clean, seed, replace(veiled, veil_chance=0.5)) for seed in range(20)]
    always = [synthesize(clean, seed, veiled) for seed in range(20)]
    never = [synthesize(clean, seed, replace(veiled, veil=(0.0, 0.0))) for seed in range(20)]
    same_as_always = [np.array_equal(a.rain, b.rain) for a, b in zip(looks, always)]
    same_as_never = [np.array_equal(a.rain, b.rain) for a, b in zip(looks, never)]
    # each frame is either veiled as before or not veiled at all, with the same drops
    assert all(x != y for x, y in zip(same_as_always, same_as_never))
    assert 4 <= sum(same_as_never) <= 16
    with pytest.raises(DerainError, match="veil chance"):
        RainConfig(veil_chance=1.5)


def test_scene_light_dims_the_drops_of_a_dark_scene_and_leaves_the_veil_and_other_frames_as_before() -> None:
    dark = np.full((64, 96, 3), 40, np.uint8)
    base = RainConfig(veil=(0.0, 0.0), haze=(0.5, 0.5), highlight=(0.0, 0.0), rim=(0.0, 0.0))
    scene = replace(base, scene_light=(1.0, 1.0))
    bright, dim = synthesize(dark, 3, base), synthesize(dark, 3, scene)
    assert np.array_equal(bright.soft_mask, dim.soft_mask)  # the same drops
    drops = bright.soft_mask > 0.5
    # fading toward a bright grey lifts a dark scene by about half the way; toward its own mean, not at all
    assert bright.rain[drops].mean() > 40 + 0.5 * 0.5 * (0.7 * 255 - 40)
    assert abs(dim.rain[drops].astype(float).mean() - 40) < 3
    halves = [synthesize(dark, seed, replace(scene, scene_light_chance=0.5)) for seed in range(20)]
    unchanged = [np.array_equal(a.rain, synthesize(dark, seed, replace(scene, scene_light_chance=0.0)).rain) for seed, a in enumerate(halves)]
    assert 4 <= sum(unchanged) <= 16
    veiled = replace(scene, veil=(0.2, 0.2))
    away = synthesize(dark, 3, veiled).soft_mask < 0.01  # the drops' blurred edges still reach a level here
    difference = synthesize(dark, 3, veiled).rain[away].astype(int) - synthesize(dark, 3, replace(base, veil=(0.2, 0.2))).rain[away]
    assert np.abs(difference).max() <= 1
    with pytest.raises(DerainError, match="scene light chance"):
        RainConfig(scene_light=(1.0, 1.0), scene_light_chance=2.0)
    with pytest.raises(DerainError, match="needs a scene light range"):
        RainConfig(scene_light_chance=0.5)
    with pytest.raises(DerainError, match="scene light"):
        RainConfig(scene_light=(0.0, 1.0))


def test_scene_bokeh_brightens_the_clean_scene_in_both_pictures_and_leaves_the_drops_as_before() -> None:
    scene = np.full((128, 128, 3), 60, np.uint8)
    plain = RainConfig(density=(0.05, 0.05), veil=(0.0, 0.0))
    lit = replace(plain, scene_bokeh=(8.0, 8.0))
    before, after = synthesize(scene, 3, plain), synthesize(scene, 3, lit)
    assert np.array_equal(before.soft_mask, after.soft_mask)  # the same drops
    lights = channel_max(cv2.absdiff(after.clean, scene)) > 10
    assert 0.02 < lights.mean() < 0.9
    assert (after.clean.astype(int) >= scene).all()  # light is only ever added
    dry = after.soft_mask == 0
    assert np.array_equal(after.rain[dry & lights], after.clean[dry & lights])  # a light, not a drop
    assert not after.mask[lights & dry].any()
    none = [np.array_equal(synthesize(scene, seed, replace(lit, scene_bokeh_chance=0.5)).clean, scene) for seed in range(20)]
    assert 4 <= sum(none) <= 16


def test_see_through_lets_the_scene_detail_through_the_drops_and_keeps_their_lift() -> None:
    rng = np.random.default_rng(5)
    stripes = np.repeat(np.tile(np.array([40, 200], np.uint8), 48)[None, :, None], 64, 0).repeat(3, 2)
    scene = np.clip(stripes + rng.integers(0, 20, stripes.shape), 0, 255).astype(np.uint8)
    base = RainConfig(veil=(0.0, 0.0), focus_mix=0.0, density=(0.4, 0.4), radius=(8.0, 12.0))
    opaque, clear = synthesize(scene, 7, base), synthesize(scene, 7, replace(base, see_through=(1.0, 1.0)))
    assert np.array_equal(opaque.soft_mask, clear.soft_mask)  # the same drops
    drops = opaque.soft_mask > 0.9

    def detail_kept(sample: RainySample, inside: np.ndarray) -> float:  # correlation of the fine detail, rain against clean
        rain, clean = (cv2.Laplacian(image.astype(np.float32).mean(2), cv2.CV_32F)[inside] for image in (sample.rain, sample.clean))
        return float(np.corrcoef(rain, clean)[0, 1])

    assert detail_kept(clear, drops) > 0.9 > 0.5 > detail_kept(opaque, drops)
    lift = [sample.rain[drops].astype(float).mean() - scene[drops].mean() for sample in (opaque, clear)]
    assert lift[1] > 10 and abs(lift[1] - lift[0]) < 0.6 * lift[0]
    halves = [synthesize(scene, seed, replace(base, see_through=(1.0, 1.0), see_through_chance=0.5)) for seed in range(20)]
    unchanged = [np.array_equal(a.rain, synthesize(scene, seed, replace(base, see_through=(1.0, 1.0), see_through_chance=0.0)).rain)
                 for seed, a in enumerate(halves)]
    assert 4 <= sum(unchanged) <= 16
    # with a radius ramp, small drops stay opaque and large ones let the scene through
    ramp = replace(base, see_through=(1.0, 1.0), see_through_radius=(14.0, 20.0))
    small = replace(base, radius=(6.0, 8.0))
    assert np.array_equal(synthesize(scene, 7, small).rain, synthesize(scene, 7, replace(ramp, radius=(6.0, 8.0))).rain)
    large = replace(base, radius=(24.0, 30.0))
    large_opaque, large_clear = synthesize(scene, 7, large), synthesize(scene, 7, replace(ramp, radius=(24.0, 30.0)))
    large_drops = large_opaque.soft_mask > 0.9
    assert detail_kept(large_clear, large_drops) > 0.9 > 0.5 > detail_kept(large_opaque, large_drops)
    with pytest.raises(DerainError, match="needs a see through range"):
        RainConfig(see_through_radius=(8.0, 20.0))
    with pytest.raises(DerainError, match="see through radius must be"):
        RainConfig(see_through=(0.5, 1.0), see_through_radius=(20.0, 8.0))
    with pytest.raises(DerainError, match="see through must be at most 1"):
        RainConfig(see_through=(0.5, 1.5))
    with pytest.raises(DerainError, match="needs a see through range"):
        RainConfig(see_through_chance=0.5)


def test_a_scene_light_is_a_round_disc_that_fades_to_nothing() -> None:
    black = np.zeros((160, 160, 3), np.uint8)
    checked = 0
    for seed in range(40):
        lit = channel_max(add_bokeh(black, np.random.default_rng(seed), (0.3, 0.3))) > 0
        rows, cols = np.nonzero(lit)
        if len(rows) == 0 or rows.min() == 0 or cols.min() == 0 or rows.max() == 159 or cols.max() == 159:
            continue  # no disc, or one cut by the frame
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        if min(height, width) < 16:
            continue  # too few pixels to tell a disc from a square
        if len(rows) > 0.85 * height * width:  # a disc fills pi / 4 of its box; a square, all of it
            assert cv2.connectedComponents(lit.astype(np.uint8))[0] > 2, f"seed {seed}: a square light"
            continue
        checked += 1
    assert checked >= 5


def test_scene_defocus_softens_the_clean_scene_in_both_pictures_and_leaves_the_drops_as_before() -> None:
    scene = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    plain = RainConfig(density=(0.05, 0.05), veil=(0.0, 0.0))
    soft = replace(plain, scene_defocus=(3.0, 3.0))
    before, after = synthesize(scene, 3, plain), synthesize(scene, 3, soft)
    assert np.array_equal(before.soft_mask, after.soft_mask)  # the same drops
    assert after.clean.std() < 0.5 * scene.std()  # noise averaged over a disc of about 29 px
    assert abs(after.clean.astype(float).mean() - scene.mean()) < 2  # a blur keeps the mean
    dry = after.soft_mask == 0
    assert np.array_equal(after.rain[dry], after.clean[dry])
    flat = np.full((32, 32, 3), 77, np.uint8)
    assert np.array_equal(defocus_scene(flat, 4.5), flat)
    none = [np.array_equal(synthesize(scene, seed, replace(soft, scene_defocus_chance=0.5)).clean, scene) for seed in range(20)]
    assert 4 <= sum(none) <= 16


@pytest.mark.parametrize("name, bad_range", [("scene_bokeh", (3.0, 1.0)), ("scene_defocus", (0.0, 2.0))])
def test_a_scene_change_checks_its_range_and_chance_and_refuses_clips(name: str, bad_range: tuple[float, float]) -> None:
    words = name.replace("_", " ")
    with pytest.raises(DerainError, match=f"needs a {words} range"):
        RainConfig(**{f"{name}_chance": 0.5})
    with pytest.raises(DerainError, match=f"{words} must be"):
        RainConfig(**{name: bad_range})
    scene = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(DerainError, match="still images only"):
        next(render_clip([scene, scene], 0, RainConfig(**{name: (1.0, 2.0)})))


def test_a_dim_veil_lowers_the_glass_between_drops_and_leaves_the_drops_alone() -> None:
    bright = np.full((96, 128, 3), 200, np.uint8)
    config = RainConfig(density=(0.3, 0.3), radius=(3.0, 8.0), focus_mix=0.0, veil=(0.2, 0.2))
    airlight = synthesize(bright, 5, config)
    dim = synthesize(bright, 5, replace(config, veil_level=(0.2, 0.2)))
    unveiled = synthesize(bright, 5, replace(config, veil=(0.0, 0.0)))
    dry = unveiled.soft_mask == 0
    # the same drops; the bright airlight (0.7..0.97 of 255) barely moves a frame at 200, the
    # dim film lowers it toward 51
    assert np.array_equal(dim.soft_mask, unveiled.soft_mask)
    assert float(dim.rain[dry].mean()) < float(airlight.rain[dry].mean()) - 10
    assert float(dim.rain[dry].mean()) < 200 - 10
    inside = unveiled.soft_mask > 0.99
    assert np.abs(dim.rain[inside].astype(int) - unveiled.rain[inside]).max() <= 1
    with pytest.raises(DerainError, match="veil level"):
        RainConfig(veil_level=(0.5, 0.2))


def test_grain_falls_on_rain_and_clean_alike_after_the_same_drops() -> None:
    grey = np.full((96, 128, 3), 120, np.uint8)
    config = RainConfig(density=(0.3, 0.3), radius=(3.0, 8.0))
    plain = synthesize(grey, 7, config)
    grainy = synthesize(grey, 7, replace(config, sensor_noise=(3.0, 3.0)))
    # the same drops and target; the grain is one field on both pictures, so it cancels in their
    # difference (up to rounding), and it is as strong as asked for
    assert np.array_equal(grainy.mask, plain.mask) and np.array_equal(grainy.soft_mask, plain.soft_mask)
    difference = grainy.rain.astype(int) - grainy.clean.astype(int)
    assert np.abs(difference - (plain.rain.astype(int) - plain.clean.astype(int))).max() <= 1
    assert 2.5 < float((grainy.clean.astype(float) - grey).std()) < 3.5
    assert np.array_equal(grainy.clean[..., 0], grainy.clean[..., 2])  # one field for all channels
    with pytest.raises(DerainError, match="sensor noise"):
        RainConfig(sensor_noise=(3.0, 1.0))


def test_drops_can_be_drawn_without_rim_or_highlight() -> None:
    grey = np.full((96, 128, 3), 120, np.uint8)
    config = RainConfig(density=(0.3, 0.3), radius=(6.0, 12.0), focus_mix=0.0)
    shaded = synthesize(grey, 4, config)
    flat = synthesize(grey, 4, replace(config, rim=(0.0, 0.0), highlight=(0.0, 0.0)))
    # the same drops; on a flat grey scene a drop without rim or highlight is one even lift
    # (haze toward its airlight), while the shaded ones are darker at the rim and hotter at a spot
    assert np.array_equal(flat.soft_mask, shaded.soft_mask)
    inside = flat.soft_mask > 0.99
    assert np.ptp(flat.rain[inside].astype(int)) < np.ptp(shaded.rain[inside].astype(int)) - 10
    assert flat.rain[inside].max() < shaded.rain[inside].max()
    with pytest.raises(DerainError, match="rim"):
        RainConfig(rim=(0.2, 0.1))
    with pytest.raises(DerainError, match="rim must stay below 1"):
        RainConfig(rim=(0.0, 1.0))


def test_a_clip_gets_fresh_grain_on_every_frame_and_the_same_drops() -> None:
    frames = [np.roll(scene(), shift, axis=1) for shift in range(3)]
    plain = list(render_clip(frames, 3, DENSE))
    grainy = list(render_clip(frames, 3, replace(DENSE, sensor_noise=(2.0, 2.0))))
    assert all(np.array_equal(a.mask, b.mask) and np.array_equal(a.soft_mask, b.soft_mask) for a, b in zip(plain, grainy))
    grain = [sample.clean.astype(int) - frame for sample, frame in zip(grainy, frames)]
    assert all(np.abs(field).max() > 0 for field in grain) and not np.array_equal(grain[0], grain[1])


def test_paper_mask_threshold_is_30_of_255_max_over_channels() -> None:
    clean = np.zeros((1, 3, 3), np.uint8)
    rain = clean.copy()
    rain[0, 0, 1] = 31
    rain[0, 1, 2] = 30
    assert paper_mask(rain, clean).tolist() == [[True, False, False]]


def test_density_and_focus_change_the_drops() -> None:
    sparse = synthesize(scene(), 0, RainConfig(density=(0.02, 0.02))).soft_mask.mean()
    dense = synthesize(scene(), 0, RainConfig(density=(0.6, 0.6))).soft_mask.mean()
    assert dense > 3 * sparse
    sharp = synthesize(scene(), 0, RainConfig(focus_mix=0.0, density=(0.3, 0.3)))
    blurry = synthesize(scene(), 0, RainConfig(focus_mix=1.0, density=(0.3, 0.3)))
    # Defocus spreads each drop's edge: fewer fully opaque pixels, more partial ones.
    partial = lambda s: ((s.soft_mask > 0.05) & (s.soft_mask < 0.95)).mean()  # noqa: E731
    assert partial(blurry) > partial(sharp)


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(DerainError):
        RainConfig(radius=(10.0, 2.0))
    with pytest.raises(DerainError):
        RainConfig(focus_mix=1.5)


def test_tiny_images_render() -> None:
    for height, width in ((1, 1), (5, 3), (17, 9)):
        assert synthesize(scene(24, 24)[:height, :width], 0).rain.shape == (height, width, 3)


def test_drops_stay_on_the_glass_while_the_scene_moves() -> None:
    glass = WetGlass(np.random.default_rng(0), 64, 96, DENSE, rain_rate=0.0)
    before = set(zip(glass.drops.x.tolist(), glass.drops.y.tolist()))
    for _ in range(3):
        glass.step()
    after = set(zip(glass.drops.x.tolist(), glass.drops.y.tolist()))
    # Most drops keep their exact place; only sliding and merging ones move.
    assert len(before & after) > 0.8 * len(before)


def test_clip_is_seeded() -> None:
    frames = [np.roll(scene(), shift, axis=1) for shift in range(4)]
    first = [s.rain for s in render_clip(frames, 5, DENSE)]
    second = [s.rain for s in render_clip(frames, 5, DENSE)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert len(first) == 4


def test_folder_to_raindrop_layout(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    cv2.imwrite(str(clean / "a.png"), scene())
    (clean / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="broken.png"):
        report = synth_images(clean, tmp_path / "out", DENSE, seed=3, count=2)
    assert report.written == 2 and [p.name for p in report.skipped] == ["broken.png"]
    for index in (0, 1):
        rain = cv2.imread(str(tmp_path / "out" / "data" / f"{index}_rain.png"))
        gt = cv2.imread(str(tmp_path / "out" / "gt" / f"{index}_clean.png"))
        mask = cv2.imread(str(tmp_path / "out" / "mask" / f"{index}_mask.png"), cv2.IMREAD_GRAYSCALE)
        assert rain.shape == gt.shape == (64, 96, 3) and set(np.unique(mask)) <= {0, 255}
        assert np.array_equal(gt, scene())
    again = tmp_path / "again"
    with pytest.warns(UserWarning):
        synth_images(clean, again, DENSE, seed=3, count=2)
    for name in ("data/0_rain.png", "data/1_rain.png", "mask/1_mask.png"):
        assert (tmp_path / "out" / name).read_bytes() == (again / name).read_bytes()
    with pytest.raises(DerainError, match="already holds pairs"):
        synth_images(clean, again, DENSE, seed=4, count=2)
    assert (tmp_path / "out" / "data/0_rain.png").read_bytes() == (again / "data/0_rain.png").read_bytes()
    with pytest.warns(UserWarning):
        synth_images(clean, again, DENSE, seed=4, count=2, overwrite=True)
    assert (tmp_path / "out" / "data/0_rain.png").read_bytes() != (again / "data/0_rain.png").read_bytes()
    assert not [p for p in again.rglob(".*")]  # no temporary file left behind


def test_folder_of_only_unreadable_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(DerainError, match="could be read"):
        synth_images(tmp_path, tmp_path / "out")


def make_video(path: Path, frames: int = 8, fps: int = 10, audio: bool = True, video: bool = True) -> None:
    with av.open(str(path), "w") as container:
        if video:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        if audio:
            sound = container.add_stream("aac", rate=16000, layout="mono")
        if video:
            for index in range(frames):
                frame = av.VideoFrame.from_ndarray(np.roll(scene()[..., ::-1], index, axis=1).copy(), format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        if audio:
            for index in range(frames * 2):
                chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, index * 1024
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))


def video_facts(path: Path) -> tuple[int, Fraction, list[str], tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate, kinds = stream.average_rate, sorted(s.type for s in container.streams)
        size = (stream.codec_context.height, stream.codec_context.width)
        count = sum(1 for _ in container.decode(video=0))
    return count, rate, kinds, size


def test_video_keeps_frame_count_fps_and_audio(tmp_path: Path) -> None:
    source = tmp_path / "walk.mp4"
    make_video(source, frames=8, fps=10)
    rain, clean = synth_video(source, tmp_path / "out", DENSE, seed=1)
    assert rain.name == "walk_rain.mp4" and clean.name == "walk_clean.mp4"
    count, rate, kinds, size = video_facts(rain)
    assert (count, rate, kinds, size) == (8, 10, ["audio", "video"], (64, 96))
    assert clean.read_bytes() == source.read_bytes()
    with pytest.raises(DerainError, match="exists"):
        synth_video(source, tmp_path / "out", DENSE, seed=1)


def test_video_without_video_stream_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "sound.mp4"
    make_video(source, video=False)
    with pytest.raises(DerainError, match="no video stream"):
        synth_video(source, tmp_path / "out")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0" * 100)
    with pytest.raises(DerainError, match="cannot open"):
        synth_video(garbage, tmp_path / "out")
    video = tmp_path / "video.mp4"
    make_video(video)
    with pytest.raises(DerainError, match="sensor noise needs images"):
        synth_video(video, tmp_path / "out", RainConfig(sensor_noise=(1.0, 2.0)))
    with pytest.raises(DerainError, match="still images only"):
        synth_path(video, tmp_path / "lit", RainConfig(scene_bokeh=(1.0, 2.0)))
    assert not (tmp_path / "lit").exists()


def test_still_image_becomes_a_moving_clip_pair(tmp_path: Path) -> None:
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), scene(96, 128))
    synth_path(image, tmp_path / "out", DENSE, seed=2, frames=5, fps=12)
    rain_facts = video_facts(tmp_path / "out" / "still_rain.mp4")
    clean_facts = video_facts(tmp_path / "out" / "still_clean.mp4")
    assert rain_facts == clean_facts and rain_facts[:2] == (5, 12)


def test_cli_synth_and_sources(tmp_path: Path) -> None:
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), scene())
    runner = CliRunner()
    result = runner.invoke(app, ["synth", str(image), str(tmp_path / "out"), "--density", "0.3", "--size", "2,10", "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "data" / "0_rain.png").is_file()
    again = runner.invoke(app, ["synth", str(image), str(tmp_path / "out")])
    assert isinstance(again.exception, DerainError) and "--overwrite" in str(again.exception)
    replaced = runner.invoke(app, ["synth", str(image), str(tmp_path / "out"), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    bad = runner.invoke(app, ["synth", str(image), str(tmp_path / "o2"), "--density", "lots"])
    assert isinstance(bad.exception, DerainError)
    soft = runner.invoke(app, ["synth", str(image), str(tmp_path / "soft"), "--defocus", "9,16"])
    assert soft.exit_code == 0, soft.output
    for name, extra in (("bright", []), ("dim", ["--veil-level", "0.1"])):
        made = runner.invoke(app, ["synth", str(image), str(tmp_path / name), "--veil", "0.2", *extra])
        assert made.exit_code == 0, made.output
    bright, dim = (cv2.imread(str(tmp_path / name / "data" / "0_rain.png")) for name in ("bright", "dim"))
    assert dim.mean() < bright.mean() - 5
    grainy = runner.invoke(app, ["synth", str(image), str(tmp_path / "grainy"), "--sensor-noise", "2"])
    assert grainy.exit_code == 0, grainy.output
    assert not np.array_equal(cv2.imread(str(tmp_path / "grainy" / "gt" / "0_clean.png")), cv2.imread(str(image)))
    flat = runner.invoke(app, ["synth", str(image), str(tmp_path / "flat"), "--rim", "0", "--highlight", "0"])
    assert flat.exit_code == 0, flat.output
    assert not np.array_equal(*(cv2.imread(str(tmp_path / name / "data" / "0_rain.png")) for name in ("out", "flat")))
    lit = runner.invoke(app, ["synth", str(image), str(tmp_path / "lit"), "--veil", "0.2", "--scene-light", "1", "--scene-light-chance", "1"])
    assert lit.exit_code == 0, lit.output
    assert not np.array_equal(*(cv2.imread(str(tmp_path / name / "data" / "0_rain.png")) for name in ("bright", "lit")))
    lights = runner.invoke(app, ["synth", str(image), str(tmp_path / "lights"), "--scene-bokeh", "8", "--seed", "4"])
    assert lights.exit_code == 0, lights.output
    assert not np.array_equal(cv2.imread(str(tmp_path / "lights" / "gt" / "0_clean.png")), cv2.imread(str(image)))
    soft = runner.invoke(app, ["synth", str(image), str(tmp_path / "softer"), "--scene-defocus", "2,4", "--scene-defocus-chance", "1"])
    assert soft.exit_code == 0, soft.output
    assert cv2.imread(str(tmp_path / "softer" / "gt" / "0_clean.png")).std() != cv2.imread(str(image)).std()
    clear = runner.invoke(app, ["synth", str(image), str(tmp_path / "clear"), "--see-through", "0.5,1", "--see-through-chance", "1"])
    assert clear.exit_code == 0, clear.output
    assert not np.array_equal(*(cv2.imread(str(tmp_path / name / "data" / "0_rain.png")) for name in ("out", "clear")))
    moving = runner.invoke(app, ["synth", str(image), str(tmp_path / "moving"), "--scene-bokeh", "8", "--frames", "3"])
    assert isinstance(moving.exception, DerainError) and "still images only" in str(moving.exception)
    assert not (tmp_path / "moving").exists()
    listed = runner.invoke(app, ["sources"])
    assert listed.exit_code == 0 and "skimage-astronaut" in listed.output


def test_sources_are_found_and_exported(tmp_path: Path) -> None:
    images = dict((s.name, p) for s, p in available_sources("image"))
    assert "skimage-astronaut" in images  # scikit-image is a core dependency
    written = export_sources(tmp_path / "clean", kind="image")
    assert tmp_path / "clean" / "skimage-astronaut.png" in written
    assert all(p.stat().st_size > 0 for p in written)
