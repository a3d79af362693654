"""The error split of scripts/error_split.py: each kind of error lands in its own column, and its
probes change only what they name."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from scripts.error_split import error_split, far_from, lift_removed, restored, without_branches
from stream_derain.models import build_generator
from stream_derain.models.config import PRESETS


def test_each_kind_of_error_lands_in_its_column() -> None:
    rng = np.random.default_rng(0)
    clean = rng.integers(40, 200, (64, 64, 3), dtype=np.uint8)
    drops = np.zeros((64, 64), bool)
    drops[16:48, 16:48] = True
    assert not error_split(clean, clean, drops, 4.0).any()
    lifted = clean.copy()
    lifted[drops] += 30
    left, over, fine, near, far = error_split(lifted, clean, drops, 4.0)
    assert left > 10 * (over + fine + near + far)  # a drop's even brightening is lift left, inside it
    darker = clean.copy()
    darker[~drops] -= 20
    left, over, fine, near, far = error_split(darker, clean, drops, 4.0)
    assert near + far == np.sum(~drops) * 20.0**2 / drops.size
    corner, rim = clean.copy(), clean.copy()
    corner[:4, :4] -= 20  # 17 px and more from the drop
    rim[50:52, 20:40] -= 20  # 2 to 4 px below it
    assert error_split(corner, clean, drops, 4.0)[3] == 0 < error_split(corner, clean, drops, 4.0)[4]
    assert error_split(rim, clean, drops, 4.0)[4] == 0 < error_split(rim, clean, drops, 4.0)[3]
    removed = lift_removed(lifted, clean, drops, 4.0).astype(int) - clean
    assert abs(removed[28:36, 28:36].mean()) < 1  # the oracle takes a drop's lift away, away from its outline
    assert not removed[~drops].any()


def test_the_map_probes_touch_only_what_they_name() -> None:
    torch.manual_seed(0)
    generator = build_generator(replace(PRESETS["lite"], coarse_scale=16, pad_multiple=16, detail_gain=True)).eval()
    for head in (generator.autoencoder.coarse.head, generator.autoencoder.detail):
        torch.nn.init.normal_(head.weight, std=0.05)  # heads that act, unlike new ones
    bare = without_branches(generator)
    assert bare.autoencoder.coarse is None and bare.autoencoder.detail is None and generator.autoencoder.coarse is not None
    rng = np.random.default_rng(1)
    rain = rng.integers(0, 256, (44, 60, 3), dtype=np.uint8)  # padded to 48 x 64
    drops = np.zeros((44, 60), bool)
    drops[8:16, 8:16] = True
    assert not np.array_equal(restored(generator, rain, drops, 0.0), restored(bare, rain, drops, 0.0))
    dry = restored(bare, rain, drops, 0.0, dry_far=True)
    far = far_from(drops)
    # with no branch, a dry map leaves far pixels as they are, to rounding, up to the frame's edge
    assert np.abs(dry[far].astype(int) - rain[far]).max() <= 1
    assert far[43, 59] and far[12, 27] and not far[12, 26] and not far[12, 12]
