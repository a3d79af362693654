"""Video I/O over PyAV: decoded RGB frames and untouched audio/subtitle packets. No models here."""

from .files import VIDEO_EXTENSIONS, plan_video_job
from .reader import DecodedFrame, VideoInfo, VideoReader
from .writer import ENCODERS, EncoderOptions, VideoWriter

__all__ = [
    "ENCODERS",
    "VIDEO_EXTENSIONS",
    "DecodedFrame",
    "EncoderOptions",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "plan_video_job",
]
