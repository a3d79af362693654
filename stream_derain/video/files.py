"""Which videos to derain, and where each output goes: `IN OUT`, or files and folders with an out-dir."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import DerainError

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .ts .mts .m2ts .flv .wmv .mpg .mpeg .3gp .ogv .y4m".split()
)


def plan_video_job(paths: Sequence[Path], out_dir: Path | None = None) -> list[tuple[Path, Path]]:
    """(input, output) pairs. Without `out_dir`, `paths` is exactly [IN, OUT]; with it, every
    path is an input file or a folder of videos, and outputs keep their names inside `out_dir`."""
    paths = [Path(p) for p in paths]
    if out_dir is None:
        if len(paths) != 2:
            raise DerainError("give IN OUT, or several inputs (files or folders) with --out-dir")
        source, output = paths
        if source.is_dir():
            raise DerainError(f"{source} is a folder: use --out-dir to derain the videos in it")
        return [(source, output)]
    if out_dir.exists() and not out_dir.is_dir():
        raise DerainError(f"--out-dir {out_dir} is not a folder")
    inputs: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                raise DerainError(f"no video files in {path} (looked for {', '.join(sorted(VIDEO_EXTENSIONS))})")
            inputs.extend(found)
        elif path.exists():
            inputs.append(path)
        else:
            raise DerainError(f"input {path} not found")
    names = [p.name for p in inputs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise DerainError(f"several inputs are named {clashes[0]}: their outputs in {out_dir} would clash")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [(source, out_dir / source.name) for source in inputs]
