"""Raindrops stuck to glass, rendered onto clean images and video (training data, tests, demos)."""

from .camera import camera_frames
from .clips import RainyClip, render_clip
from .config import RainConfig
from .drops import Drops, sample_drops
from .glass import WetGlass
from .image_files import read_rgb
from .mask import paper_mask
from .raindrop_layout import SynthReport, synth_images
from .render import Look, RainySample, render_drops, sample_look, synthesize
from .sources import available_sources, export_sources
from .synth_files import synth_path
from .video_file import synth_video

__all__ = [
    "Drops",
    "Look",
    "RainConfig",
    "RainyClip",
    "RainySample",
    "SynthReport",
    "WetGlass",
    "available_sources",
    "camera_frames",
    "export_sources",
    "read_rgb",
    "paper_mask",
    "render_clip",
    "render_drops",
    "sample_drops",
    "sample_look",
    "synth_images",
    "synth_path",
    "synth_video",
    "synthesize",
]
