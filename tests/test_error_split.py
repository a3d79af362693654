"""The error split of scripts/error_split.py: each kind of error lands in its own column."""

from __future__ import annotations

import numpy as np

from scripts.error_split import error_split, lift_removed


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
