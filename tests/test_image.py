import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_derain import Derainer
from stream_derain.image_io import read_image


def write(path, image):
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture(scope="module")
def derainer():
    return Derainer(model="lite", device="cpu")


def test_python_api_keeps_size_dtype_and_layout(derainer):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (21, 35, 3), dtype=np.uint8)
    out = derainer(rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    gray = derainer(rgb[:, :, 0])
    assert gray.shape == (21, 35)
    rgba = np.dstack([rgb, rng.integers(0, 256, (21, 35), dtype=np.uint8)])
    out_rgba = derainer(rgba)
    assert out_rgba.shape == (21, 35, 4)
    np.testing.assert_array_equal(out_rgba[:, :, 3], rgba[:, :, 3])
    result = derainer.derain(rgb)
    assert result.mask.shape == (21, 35) and 0 <= result.mask.min() <= result.mask.max() <= 1


def test_untrained_lite_is_identity_so_no_pixel_moves_or_is_cropped(untrained_presets):
    # The untrained lite preset starts as the identity (zero residual head): any shift,
    # crop or colour swap in padding and conversion would show here.
    derainer = Derainer(model="lite", device="cpu")
    assert not derainer.trained
    rgb = np.random.default_rng(1).integers(0, 256, (481, 721, 3), dtype=np.uint8)
    np.testing.assert_array_equal(derainer(rgb), rgb)


def test_cli_keeps_odd_sizes_and_writes_the_mask(tmp_path, run_cli):
    source = write(tmp_path / "odd.png", np.full((41, 73, 3), 120, np.uint8))
    result = run_cli("image", source, tmp_path / "out.png", "--save-mask", "--device", "cpu")
    assert result.code == 0, result.err
    assert read_image(tmp_path / "out.png").shape == (41, 73, 3)
    assert read_image(tmp_path / "out_mask.png").shape == (41, 73)
    if "untrained" in result.err:
        assert "NOT deraining" in result.err


def test_cli_folder_mode_keeps_names_and_skips_unreadable_files(tmp_path, run_cli):
    source = tmp_path / "in"
    source.mkdir()
    write(source / "a.png", np.zeros((17, 19), np.uint8))
    write(source / "b.jpg", np.zeros((16, 16, 3), np.uint8))
    write(source / "c.png", np.zeros((9, 12, 4), np.uint8))
    (source / "broken.png").write_bytes(b"not a png")
    (source / "notes.txt").write_text("ignored")
    result = run_cli("image", source, tmp_path / "out", "--quiet")
    assert result.code == 0, result.err
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.jpg", "c.png"]
    assert read_image(tmp_path / "out" / "c.png").shape == (9, 12, 4)
    assert "skipped" in result.err and "broken.png" in result.err


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "not found"),
        ("not_an_image", "not a readable image"),
        ("same_as_input", "is the input"),
        ("unwritable", "not writable"),
        ("no_folder", "does not exist"),
        ("unknown_model", "unknown model"),
        ("exists", "--overwrite"),
        ("bad_suffix", "unknown image type"),
    ],
)
def test_bad_input_gets_one_line_and_nothing_is_overwritten(tmp_path, run_cli, case, message):
    good = write(tmp_path / "good.png", np.full((8, 8, 3), 7, np.uint8))
    before = good.read_bytes()
    args = [good, tmp_path / "out.png"]
    if case == "missing":
        args[0] = tmp_path / "missing.png"
    elif case == "not_an_image":
        args[0] = tmp_path / "fake.png"
        args[0].write_bytes(b"\x00" * 100)
    elif case == "same_as_input":
        args[1] = good
    elif case == "unwritable":
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        # root writes through permission bits, but not into /proc
        args[1] = (Path("/proc") if os.geteuid() == 0 else locked) / "out.png"
    elif case == "no_folder":
        args[1] = tmp_path / "nowhere" / "out.png"
    elif case == "unknown_model":
        args += ["--model", "nope"]
    elif case == "exists":
        write(tmp_path / "out.png", np.zeros((2, 2, 3), np.uint8))
    elif case == "bad_suffix":
        args[1] = tmp_path / "out.xyz"
    result = run_cli("image", *args)
    assert result.code != 0
    assert message in result.err
    errors = [line for line in result.err.splitlines() if not line.startswith("derain: warning:")]
    assert "Traceback" not in result.err and len(errors) == 1
    assert good.read_bytes() == before
    leftovers = [p.name for p in tmp_path.rglob("*") if "partial" in p.name]
    assert leftovers == []


def test_info_reports_the_model_cost(run_cli):
    result = run_cli("info", "--model", "full")
    assert result.code == 0
    assert "6,244,362" in result.out and "403.0 GMAC at 480x720" in result.out
