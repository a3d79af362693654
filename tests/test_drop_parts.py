"""scripts/drop_parts.py takes drops apart: the parts add back up to the drop, the dome is the
smooth lift a drop has, and every variant leaves the photo alone away from the drops;
scripts/look_curvature.py tells a domed look from a flat one; pair_breakdown.py's AUC ranks."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.drop_parts import VARIANTS, rebuilt, take_apart
from scripts.look_curvature import curvatures, render_form
from scripts.pair_breakdown import roc_auc


def test_parts_add_up_and_the_dome_is_the_smooth_lift() -> None:
    rng = np.random.default_rng(0)
    clean = rng.integers(60, 160, (64, 64, 3)).astype(np.uint8)
    yy, xx = np.mgrid[:64, :64]
    labels = (((yy - 32) ** 2 + (xx - 30) ** 2) <= 12**2).astype(np.int32)
    dome = 50 - 0.2 * ((yy - 32) ** 2 + (xx - 30) ** 2)  # a lift brightest in the middle
    rain = np.clip(clean + (dome * labels)[..., None], 0, 255).astype(np.uint8)
    parts = take_apart(rain, clean, labels, [1])
    layer = rain.astype(np.float64) - clean
    assert np.allclose((parts.lift + parts.inner + parts.outline)[parts.region], layer[parts.region])
    inside = labels == 1
    assert not parts.inner[~inside].any() and not parts.outline[inside & (np.hypot(yy - 32, xx - 30) < 8)].any()
    fit_error = np.abs(parts.dome[inside] - layer[inside]).mean()
    assert fit_error < 0.1 * layer[inside].mean()  # a dome with a quadratic profile is fitted closely
    plateau = VARIANTS["plateau"](parts)
    assert np.allclose(plateau[inside], plateau[inside][0]) and abs(plateau[inside].mean() - parts.dome[parts.region].mean()) < 1e-6
    hidden = rebuilt(rain, clean, VARIANTS["dome/flat"](parts), parts.region)
    assert hidden[inside].std(axis=0).max() < clean[inside].std(axis=0).min()  # the scene behind is gone
    for make in VARIANTS.values():
        image = rebuilt(rain, clean, make(parts), parts.region)
        assert np.array_equal(image[~parts.region], rain[~parts.region])


def test_look_curvature_tells_a_dome_from_a_flat_haze() -> None:
    yy, xx = np.mgrid[:96, :96]
    radius = np.hypot(yy - 48, xx - 48)
    clean = np.full((96, 96, 3), 90, np.uint8)
    dome = 70 * np.exp(-(radius**2) / (2 * 8.0**2))  # brightest in the middle
    haze = np.where(radius < 14, 45.0, np.where(radius < 24, 28.0, 0.0))  # even, its light past its edge
    looks = {}
    for name, lift in (("dome", dome), ("haze", haze)):
        rain = np.clip(clean + lift[..., None], 0, 255).astype(np.uint8)
        (found,) = curvatures(rain, clean)
        looks[name] = found[1]
        assert found[2] == pytest.approx(0, abs=1e-6)  # a flat scene under it
    assert looks["dome"] < 2 * looks["haze"] < 0  # the haze, lit past its edge, is the flatter look


def test_render_forms_read_ranges_and_numbers() -> None:
    assert render_form("rim=0:0.2,focus_mix=1") == {"rim": (0.0, 0.2), "focus_mix": 1.0}


def test_roc_auc_ranks_and_shares_ties() -> None:
    label = np.array([False, False, True, True])
    assert roc_auc(np.array([0.1, 0.2, 0.3, 0.4]), label) == 1.0
    assert roc_auc(np.array([0.4, 0.3, 0.2, 0.1]), label) == 0.0
    assert roc_auc(np.full(4, 0.5), label) == 0.5  # a constant map ranks nothing
    assert roc_auc(2 * np.array([0.1, 0.3, 0.2, 0.4]), label) == roc_auc(np.array([0.1, 0.3, 0.2, 0.4]), label) == 0.75
