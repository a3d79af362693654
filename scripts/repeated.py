"""A model run on its own output again, for the scripts that score a second pass
(repeat_check.py, val_score.py --passes, tone_check.py --passes).

`Repeated` hands each pass the last one's float output, padding included, as the trainer's
second-pass batches do; `repeated` hands a frame function its own uint8 output, as a user who
derains a derained file would (error_split.py --passes does the same). The two differ by the
rounding between passes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from stream_derain.models import Generator, GeneratorOutput


class Repeated(torch.nn.Module):
    """The generator run `passes` times, each pass on the last one's output (the last pass's maps)."""

    def __init__(self, generator: Generator, passes: int) -> None:
        super().__init__()
        self.generator, self.passes, self.config = generator, passes, generator.config

    def forward(self, x: torch.Tensor) -> GeneratorOutput:
        for _ in range(self.passes):
            out = self.generator(x)
            x = out.output.clamp(0, 1)
        return out


def repeated(derain: Callable[[np.ndarray], np.ndarray], passes: int) -> Callable[[np.ndarray], np.ndarray]:
    """A frame function (a Derainer) applied `passes` times, each time to its own output."""
    def run(image: np.ndarray) -> np.ndarray:
        for _ in range(passes):
            image = derain(image)
        return image

    return run
