"""Network definitions only: torch modules, no I/O."""

from .config import FULL, LITE, PRESETS, ModelConfig
from .discriminator import Discriminator
from .generator import Generator, GeneratorOutput, build_generator

__all__ = [
    "FULL",
    "LITE",
    "PRESETS",
    "Discriminator",
    "Generator",
    "GeneratorOutput",
    "ModelConfig",
    "build_generator",
]
