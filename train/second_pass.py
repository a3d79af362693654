"""Batches that show the model its own output: a second pass's input, with what is left of the drops.

A model run again on its own output sees the remnants of the drops it under-corrected as new,
fainter drops. Trained only on fresh drops, it has never seen such a frame, and a second pass
over-corrects rendered frames (scripts/repeat_check.py). A share of the training batches given as
the model's own output is meant to teach it what a second pass should change: the remnants where
they are still drops by the attention target's rule, and nothing else. Runs 88 and 89
(docs/TRAINING.md) found that it did not: their second pass scored what an untrained one does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from stream_derain.models import Generator
from stream_derain.synth.mask import MASK_WINDOW


SECOND_PASS_STREAM = 2  # the seed stream that decides which steps show a second pass (the trainer's DRY_STREAM is 1)


def second_pass_step(seed: int, step: int, chance: float) -> bool:
    """Whether this step's batch is a second pass's: a pure function of the run's seed and the
    step, so that every rank agrees and a resumed run draws what a straight run does."""
    return chance > 0 and np.random.default_rng([seed, step, SECOND_PASS_STREAM]).random() < chance


def remnant_target(first: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, threshold: int) -> torch.Tensor:
    """The attention target for a second pass: the drops' pixels (`mask`) where the
    MASK_WINDOW local mean of the channel-max |first - clean| in whole grey levels is still above
    `threshold` and the pixel itself still differs, as the renderer draws its own target
    (stream_derain.synth.mask.local_difference, cv2.blur's reflected border included)."""
    levels = (first.float() * 255).round() - (clean.float() * 255).round()
    difference = levels.abs().amax(1, keepdim=True)
    reach = MASK_WINDOW // 2
    local = F.avg_pool2d(F.pad(difference, (reach,) * 4, mode="reflect"), MASK_WINDOW, stride=1)
    return mask.float() * ((local > threshold) & (difference > 0)).float()


@torch.no_grad()
def second_pass_batch(
    generator: Generator, rain: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, threshold: int, amp: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, attention target) of a second pass: the generator's output on `rain`, in 0..1,
    and the drops that are left in it."""
    with torch.autocast(rain.device.type, enabled=amp):
        first = generator(rain).output
    first = first.float().clamp(0, 1).to(rain.dtype)
    return first, remnant_target(first, clean, mask, threshold)
