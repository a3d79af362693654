"""`derain build-engine` as a function: ONNX graphs (checked), then TensorRT engines where possible.

Each step reuses what is already up to date (manifest and file hash match) unless `force`.
Where TensorRT or CUDA is missing, the verified ONNX files are still written and the report
carries the `trtexec` commands that build the same engines on a machine that has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from stream_derain.models import Generator

from .cache import GRAPHS, PRECISIONS, default_folder, engine_path, generator_sha256, onnx_path, read_manifest, stale_reasons
from .export import ExportedGraph, export_and_verify
from .tensorrt import (
    ShapeProfile,
    build_engine,
    expected_engine_fields,
    import_tensorrt,
    missing_requirement,
    trtexec_command,
)

# The build-engine exit status when the ONNX files are done but TensorRT or CUDA is missing.
EXIT_NO_TENSORRT = 3
DEFAULT_SHAPES = ("1x64x64", "1x480x720", "1x1088x1920")
DEFAULT_WORKSPACE_MB = 4096


@dataclass
class BuildReport:
    folder: Path
    onnx: list[Path] = field(default_factory=list)
    exported: list[ExportedGraph] = field(default_factory=list)  # empty when the ONNX files were reused
    engines: list[Path] = field(default_factory=list)
    engines_reused: list[Path] = field(default_factory=list)
    missing: str | None = None  # why no engine was built
    trtexec: list[str] = field(default_factory=list)


def onnx_up_to_date(folder: Path, weights_sha: str) -> bool:
    return not any(
        stale_reasons(onnx_path(folder, graph, precision), {"weights_sha256": weights_sha, "precision": precision})
        for graph in GRAPHS
        for precision in PRECISIONS
    )


def engine_up_to_date(trt, folder: Path, graph: str, weights_sha: str, profile: ShapeProfile) -> bool:
    path = engine_path(folder, graph)
    if stale_reasons(path, expected_engine_fields(trt, weights_sha)):
        return False
    return read_manifest(path).profile == profile.to_dict()


def build_engines(
    generator: Generator,
    folder: Path | None = None,
    profile: ShapeProfile | None = None,
    workspace_mb: int = DEFAULT_WORKSPACE_MB,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> BuildReport:
    """Export and check the ONNX graphs (fp32, fp16), then build the TensorRT engines if possible."""
    sha = generator_sha256(generator)
    config = generator.config
    folder = Path(folder) if folder else default_folder(sha)
    profile = profile or ShapeProfile.parse(*DEFAULT_SHAPES, config.pad_multiple)
    report = BuildReport(folder)
    report.onnx = [onnx_path(folder, graph, precision) for precision in PRECISIONS for graph in GRAPHS]
    if force or not onnx_up_to_date(folder, sha):
        log(f"exporting ONNX graphs to {folder} and checking them against torch")
        report.exported = export_and_verify(generator, folder)
        for item in report.exported:
            log(f"  {item.path.name}: max relative error {item.max_rel_error:.2e} (limit {item.tolerance:g})")
    else:
        log(f"ONNX graphs in {folder} are up to date")

    report.missing = missing_requirement()
    if report.missing:
        report.trtexec = [trtexec_command(folder, graph, config, profile, workspace_mb) for graph in GRAPHS]
        return report
    trt = import_tensorrt()
    for graph in GRAPHS:
        if not force and engine_up_to_date(trt, folder, graph, sha, profile):
            report.engines_reused.append(engine_path(folder, graph))
            log(f"{engine_path(folder, graph).name} is up to date")
            continue
        log(f"building {engine_path(folder, graph).name} with TensorRT {trt.__version__} (profile {profile.describe()})")
        report.engines.append(build_engine(trt, folder, graph, config, sha, profile, workspace_mb))
    return report
