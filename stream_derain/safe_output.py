"""Write outputs under a temporary name beside the target; rename only when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DerainError


def check_output_path(output: Path, inputs: Iterable[Path] = (), overwrite: bool = False) -> None:
    """Refuse an output that is an input, that exists without `overwrite`, or can't be written."""
    output = Path(output)
    for source in inputs:
        if Path(source).exists() and output.exists() and os.path.samefile(source, output):
            raise DerainError(f"output {output} is the input: refusing to overwrite it")
        if Path(source).resolve() == output.resolve():
            raise DerainError(f"output {output} is the input: refusing to overwrite it")
    if output.is_dir():
        raise DerainError(f"output {output} is a directory")
    if output.exists() and not overwrite:
        raise DerainError(f"output {output} exists (use --overwrite to replace it)")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise DerainError(f"output folder {folder} does not exist")
    ensure_writable(folder)


def ensure_writable(folder: Path) -> None:
    """Try it: permission bits say nothing to root, and read-only mounts don't show in them."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise DerainError(f"output folder {folder} is not writable ({error.strerror})") from None


def partial_path(output: Path, tag: str = "partial") -> Path:
    """A hidden sibling that keeps the extension (muxers and encoders choose by it)."""
    output = Path(output)
    return output.with_name(f".{output.stem}.{tag}-{uuid.uuid4().hex[:8]}{output.suffix}")


@contextlib.contextmanager
def atomic_output(output: Path, keep_partial: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to `output`, on failure remove it.

    With `keep_partial`, a failed or interrupted write is kept as `NAME.partial.EXT`, a name
    that nobody mistakes for a finished file.
    """
    output = Path(output)
    temporary = partial_path(output)
    try:
        yield temporary
    except BaseException:
        if temporary.exists():
            if keep_partial:
                os.replace(temporary, output.with_name(f"{output.stem}.partial{output.suffix}"))
            else:
                temporary.unlink()
        raise
    if not temporary.exists():
        raise DerainError(f"nothing was written for {output}")
    os.replace(temporary, output)
