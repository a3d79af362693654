"""scripts/drop_parts.py takes drops apart: the parts add back up to the drop, the dome is the
smooth lift a drop has, and every variant leaves the photo alone away from the drops."""

from __future__ import annotations

import numpy as np

from scripts.drop_parts import VARIANTS, rebuilt, take_apart


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
