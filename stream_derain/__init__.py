"""stream-derain: remove raindrops stuck to a lens from images, video and live streams."""

from .derainer import Derainer, DerainResult

__all__ = ["Derainer", "DerainResult"]
__version__ = "0.1.0"
