"""The paper's PSNR/SSIM protocol, cross-checked against scikit-image, and the flicker metric."""

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from stream_derain.metrics import flicker, luma, score


def noisy_pair(height, width, seed=0):
    rng = np.random.default_rng(seed)
    clean = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (5, 5), 0)
    noisy = np.clip(clean.astype(int) + rng.integers(-25, 26, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


@pytest.mark.parametrize("size", [(48, 64), (50, 63), (481, 722)])
def test_scores_match_scikit_image_on_the_cropped_y_channel(size):
    output, clean = noisy_pair(*size)
    height, width = size[0] // 4 * 4, size[1] // 4 * 4
    y_out = cv2.cvtColor(output[:height, :width, ::-1].copy(), cv2.COLOR_BGR2YCrCb)[:, :, 0]
    y_clean = cv2.cvtColor(clean[:height, :width, ::-1].copy(), cv2.COLOR_BGR2YCrCb)[:, :, 0]
    scores = score(output, clean)
    assert scores.psnr == pytest.approx(peak_signal_noise_ratio(y_clean, y_out), abs=1e-9)
    assert scores.ssim == pytest.approx(structural_similarity(y_out, y_clean), abs=1e-9)
    assert 10 < scores.psnr < 40 and 0 < scores.ssim < 1


def test_rows_and_columns_past_a_multiple_of_four_are_ignored():
    output, clean = noisy_pair(50, 63)
    spoiled = output.copy()
    spoiled[48:, :] = 0
    spoiled[:, 60:] = 255
    assert score(spoiled, clean) == score(output, clean)
    assert luma(output).shape == (48, 60)


def test_luma_is_opencv_y_of_bgr_not_of_rgb():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255  # pure red in RGB
    assert luma(red)[0, 0] == pytest.approx(76, abs=1)  # 0.299 * 255; blue would give 29


def test_identical_images_score_infinite_psnr_and_unit_ssim():
    _, clean = noisy_pair(32, 32)
    scores = score(clean, clean)
    assert scores.psnr == float("inf") and scores.ssim == pytest.approx(1.0)


def test_flicker_is_zero_when_output_moves_like_clean_and_measures_the_difference():
    rng = np.random.default_rng(1)
    clean = rng.random((5, 8, 8, 3))
    assert flicker(clean + 0.1, clean) == pytest.approx(0.0)  # a constant offset does not flicker
    flashing = clean.copy()
    flashing[1::2] += 0.2  # every other frame brighter
    assert flicker(flashing, clean) == pytest.approx(0.2)
    as_uint8 = (clean * 200).astype(np.uint8)
    assert flicker(as_uint8, as_uint8) == 0.0
    with pytest.raises(ValueError):
        flicker(clean[:1], clean[:1])
