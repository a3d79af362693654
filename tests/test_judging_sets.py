"""The judging sets of scripts/judging_sets.py, changed by `extra` overrides as `--set` does."""

import numpy as np

from scripts.judging_sets import judging_pairs


def test_the_mixed_set_with_no_veil_is_lite_tomls_set() -> None:
    # the mixed set is lite.toml's drops with a veil drawn on half the pairs: at chance 0 no pair
    # is veiled, so its pairs are lite.toml's, and the overrides did reach the renderer
    unveiled = judging_pairs("bright-veil mixed", count=2, extra=["data.veil_chance=0"])
    plain = judging_pairs("lite.toml", count=2)
    veiled = judging_pairs("bright-veil mixed", count=2, extra=["data.veil_chance=1"])
    for a, b, c in zip(unveiled, plain, veiled):
        np.testing.assert_array_equal(np.asarray(a["rain"]), np.asarray(b["rain"]))
        np.testing.assert_array_equal(np.asarray(a["clean"]), np.asarray(c["clean"]))
        assert not np.array_equal(np.asarray(a["rain"]), np.asarray(c["rain"]))
