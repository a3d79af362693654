"""`derain eval`: score a model on paired rainy/clean images by the paper's protocol.

Folder layouts: the Raindrop data set's `data/N_rain.png` + `gt/N_clean.png`, the same names
under `rain/` + `clean/`, or two such folders with identical file names. Every image is scored
twice: the model's output against clean, and the rainy input itself (the identity baseline).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .errors import DerainError
from .image_io import is_image_path, read_image
from .metrics import Scores, score

if TYPE_CHECKING:
    from rich.table import Table

LAYOUTS = (("data", "gt"), ("rain", "clean"))
ROLE_SUFFIX = re.compile(r"_(rain|clean)$", re.IGNORECASE)


@dataclass(frozen=True)
class Pair:
    name: str
    rain: Path
    clean: Path


@dataclass(frozen=True)
class ImageResult:
    name: str
    identity: Scores
    model: Scores


@dataclass
class EvalReport:
    folder: str
    model: str
    results: list[ImageResult]

    def mean(self, which: str) -> Scores:
        scores = [getattr(result, which) for result in self.results]
        return Scores(float(np.mean([s.psnr for s in scores])), float(np.mean([s.ssim for s in scores])))

    def to_dict(self) -> dict[str, Any]:
        def scores(s: Scores) -> dict[str, float | None]:
            return {"psnr": None if math.isinf(s.psnr) else round(s.psnr, 4), "ssim": round(s.ssim, 5)}

        return {
            "folder": self.folder,
            "model": self.model,
            "protocol": "Y of OpenCV BGR->YCrCb, crop to multiple of 4, PSNR range 255, SSIM 7x7 uniform",
            "images": [{"name": r.name, "identity": scores(r.identity), "model": scores(r.model)} for r in self.results],
            "mean": {"identity": scores(self.mean("identity")), "model": scores(self.mean("model"))},
        }


def _pair_key(path: Path) -> str:
    return ROLE_SUFFIX.sub("", path.stem)


def _sort_key(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def find_pairs(folder: Path) -> list[Pair]:
    """Rainy/clean pairs under `folder`, matched by name (`N_rain` with `N_clean`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DerainError(f"{folder} is not a folder of image pairs")
    for rain_name, clean_name in LAYOUTS:
        rain_dir, clean_dir = folder / rain_name, folder / clean_name
        if rain_dir.is_dir() and clean_dir.is_dir():
            break
    else:
        layouts = " or ".join(f"{a}/ + {b}/" for a, b in LAYOUTS)
        raise DerainError(f"{folder} has no paired folders: expected {layouts}")
    rains = {_pair_key(p): p for p in rain_dir.iterdir() if is_image_path(p)}
    cleans = {_pair_key(p): p for p in clean_dir.iterdir() if is_image_path(p)}
    names = sorted(set(rains) & set(cleans), key=_sort_key)
    if not names:
        raise DerainError(f"no matching pairs in {rain_dir} and {clean_dir} (N_rain.png with N_clean.png)")
    return [Pair(name, rains[name], cleans[name]) for name in names]


def read_rgb8(path: Path) -> np.ndarray:
    image = read_image(path)
    if image.dtype != np.uint8:
        raise DerainError(f"{path}: the paper's protocol scores 8-bit images, not {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def evaluate(
    pairs: list[Pair],
    derain: Callable[[np.ndarray], np.ndarray],
    on_image: Callable[[ImageResult], None] | None = None,
) -> list[ImageResult]:
    """Score `derain(rainy RGB uint8) -> RGB uint8` and the identity on every pair."""
    results = []
    for pair in pairs:
        rain, clean = read_rgb8(pair.rain), read_rgb8(pair.clean)
        if rain.shape != clean.shape:
            raise DerainError(f"pair {pair.name}: rainy {rain.shape[1]}x{rain.shape[0]} and clean {clean.shape[1]}x{clean.shape[0]} differ in size")
        output = derain(rain)
        if output.shape != rain.shape or output.dtype != np.uint8:
            raise DerainError(f"pair {pair.name}: the model returned {output.dtype} {output.shape}, not uint8 {rain.shape}")
        result = ImageResult(pair.name, score(rain, clean), score(output, clean))
        results.append(result)
        if on_image:
            on_image(result)
    return results


def report_table(report: EvalReport) -> "Table":
    """Per-image and mean scores, the identity baseline beside the model's."""
    from rich.table import Table

    table = Table(title=f"{report.model} on {report.folder} (PSNR dB / SSIM, Y channel)")
    for column in ("image", "input PSNR", "input SSIM", "model PSNR", "model SSIM", "gain dB"):
        table.add_column(column, justify="left" if column == "image" else "right")

    def row(name: str, identity: Scores, model: Scores, style: str | None = None) -> None:
        table.add_row(name, f"{identity.psnr:.2f}", f"{identity.ssim:.4f}", f"{model.psnr:.2f}",
                      f"{model.ssim:.4f}", f"{model.psnr - identity.psnr:+.2f}", style=style)

    for result in report.results:
        row(result.name, result.identity, result.model)
    table.add_section()
    row("mean", report.mean("identity"), report.mean("model"), style="bold")
    return table
