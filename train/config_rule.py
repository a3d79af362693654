"""The rule for config changes of the shipped weights (docs/TRAINING.md, "A rule for config
changes of the shipped weights"): the same weights run another way, judged pair by pair against
themselves on the judging sets. This is the rendered part; tone and the real-pair veto are read
apart."""

from __future__ import annotations

import numpy as np

from stream_derain.metrics import Scores
from train.trainer import PSNR_CAP, mean_scores

DECIDING_SET = "bright-veil mixed"
SSIM_GUARD = 0.002  # the most a guarding set's SSIM may fall


def psnr_differences(base: list[Scores], other: list[Scores]) -> np.ndarray:
    """Per-pair PSNR differences, other minus base, over the same pairs."""
    return np.array([min(b.psnr, PSNR_CAP) - min(a.psnr, PSNR_CAP) for a, b in zip(base, other, strict=True)])


def standard_error(diffs: np.ndarray) -> float:
    return float(diffs.std(ddof=1) / np.sqrt(len(diffs)))


def rule_failures(per_set: dict[str, tuple[list[Scores], list[Scores]]]) -> list[str]:
    """Why a config change fails, from each judging set's (as given, variant) per-pair scores;
    empty when it passes. The deciding set must gain by two standard errors at no lower SSIM;
    no other set may lose more than two, or more than SSIM_GUARD of SSIM."""
    if DECIDING_SET not in per_set:
        raise ValueError(f"the rule is decided on {DECIDING_SET!r}, which was not scored")
    failures = []
    for name, (base, other) in per_set.items():
        diffs = psnr_differences(base, other)
        mean, error = float(diffs.mean()), standard_error(diffs)
        ssim_change = mean_scores(other).ssim - mean_scores(base).ssim
        if name == DECIDING_SET:
            if mean <= 0 or mean < 2 * error:
                failures.append(f"{name}: {mean:+.3f} dB is not above 2 x {error:.3f}")
            if ssim_change < 0:
                failures.append(f"{name}: SSIM {ssim_change:+.4f}")
        else:
            if mean < -2 * error:
                failures.append(f"{name}: {mean:+.3f} dB is below -2 x {error:.3f}")
            if ssim_change < -SSIM_GUARD:
                failures.append(f"{name}: SSIM {ssim_change:+.4f} (at most -{SSIM_GUARD})")
    return failures
