"""The rule for config changes of the shipped weights (train/config_rule.py)."""

from __future__ import annotations

import numpy as np
import pytest

from stream_derain.metrics import Scores
from train.config_rule import DECIDING_SET, rule_failures

GUARD = "lite.toml"


def scores(psnr: np.ndarray, ssim: float) -> list[Scores]:
    return [Scores(float(p), ssim) for p in psnr]


def judged(deciding_gain: float, guard_gain: float, noise: float = 0.1, guard_ssim_change: float = 0.0) -> dict:
    """Two sets of 64 pairs: the variant's per-pair PSNR is the base's plus a gain and noise."""
    rng = np.random.default_rng(0)
    base = 20 + 5 * rng.random(64)
    return {
        DECIDING_SET: (scores(base, 0.8), scores(base + deciding_gain + noise * rng.standard_normal(64), 0.8)),
        GUARD: (scores(base, 0.8), scores(base + guard_gain + noise * rng.standard_normal(64), 0.8 + guard_ssim_change)),
    }


def test_a_clear_gain_that_costs_no_other_set_passes():
    assert rule_failures(judged(deciding_gain=0.2, guard_gain=0.0)) == []


def test_a_gain_within_the_noise_of_the_pairs_fails():
    # a standard error of about 0.3 / 8: a gain of 0.02 is under two of them
    failures = rule_failures(judged(deciding_gain=0.02, guard_gain=0.0, noise=0.3))
    assert len(failures) == 1 and failures[0].startswith(DECIDING_SET)


def test_a_loss_on_a_guarding_set_fails_even_with_a_gain_on_the_deciding_one():
    failures = rule_failures(judged(deciding_gain=0.2, guard_gain=-0.1))
    assert len(failures) == 1 and failures[0].startswith(GUARD) and "dB" in failures[0]
    failures = rule_failures(judged(deciding_gain=0.2, guard_gain=0.0, guard_ssim_change=-0.003))
    assert len(failures) == 1 and "SSIM" in failures[0]


def test_the_rule_needs_its_deciding_set():
    with pytest.raises(ValueError, match=DECIDING_SET):
        rule_failures({GUARD: judged(0.2, 0.0)[GUARD]})
