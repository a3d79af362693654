"""The shipped weights: they load safely, say how they were made, and remove rendered drops."""

from __future__ import annotations

import numpy as np
import pytest

from stream_derain import Derainer
from stream_derain.checkpoint import load_model, shipped_weights
from stream_derain.metrics import score
from stream_derain.synth import RainConfig, read_rgb, synthesize
from stream_derain.synth.sources import available_sources

pytestmark = pytest.mark.skipif(not shipped_weights("lite").is_file(), reason="no lite weights ship")


def test_shipped_lite_is_the_default_and_its_card_names_it() -> None:
    loaded = load_model("lite")
    assert loaded.trained and loaded.source == str(shipped_weights("lite"))
    assert loaded.metadata["recipe"]["model"]["preset"] == "lite"
    card = shipped_weights("lite").with_suffix(".md").read_text()
    assert loaded.metadata["sha256"] in card


def test_shipped_lite_removes_drops_rendered_on_a_scene_it_never_saw() -> None:
    """coffee is one of the recipe's held-out validation sources: never trained on."""
    coffee = next(path for source, path in available_sources() if source.name == "skimage-coffee")
    clean = np.ascontiguousarray(read_rgb(coffee)[:192, :256])
    config = RainConfig(veil=(0.0, 0.0), mask_threshold=10)  # the recipe's drops
    derainer = Derainer(model="lite", device="cpu", backend="torch")
    gains = []
    for seed in range(4):
        rain = synthesize(clean, seed, config).rain
        gains.append(score(derainer(rain), clean).psnr - score(rain, clean).psnr)
    assert np.mean(gains) > 0.5, gains
