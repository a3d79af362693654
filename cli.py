"""`derain`: the command line. It parses, validates and wires; the work lives in the library."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from stream_derain.errors import DerainError

if TYPE_CHECKING:
    from stream_derain.derainer import Derainer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Remove raindrops stuck to a lens or windshield from images, video and live streams.",
)


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit: never a traceback."""
    typer.echo(f"derain: error: {message}", err=True)
    raise typer.Exit(code)


# --- core commands: image, info ---

ModelOption = typer.Option("lite", "--model", "-m", help="Preset (lite, full) or checkpoint file.")
DeviceOption = typer.Option("auto", "--device", help="auto, cpu or cuda.")
BackendOption = typer.Option("auto", "--backend", help="auto, torch, onnxruntime or tensorrt.")
CompileOption = typer.Option(
    False, "--compile", help="torch backend: compile the model first (tens of seconds per frame size, then about 2x faster on a GPU)."
)
TileOption = typer.Option(
    None, "--tile", help="Frames too big for the device: auto (tile only when needed) or a tile size in pixels. Overlapping tiles are blended, so no seams show."
)


def warn_if_untrained(derainer: Derainer) -> None:
    if not derainer.trained:
        typer.echo(
            f"derain: warning: {derainer.model.source}: no trained weights ship for this model, "
            "so its output is NOT deraining",
            err=True,
        )


def note_compile(derainer: Derainer, quiet: bool) -> None:
    if getattr(derainer.runner, "compiled", False) and not quiet:
        typer.echo("derain: compiling the model at the first frames of each size (tens of seconds, once)", err=True)


@app.command()
def image(
    source: Path = typer.Argument(..., help="An image, or a folder of images."),
    output: Path = typer.Argument(..., help="Output image, or folder (same file names)."),
    model: str = ModelOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    save_mask: bool = typer.Option(False, "--save-mask", help="Also write NAME_mask.png: where drops were found."),
    tile: Optional[str] = TileOption,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Remove raindrops from an image or a folder of images."""
    from rich.progress import Progress

    from stream_derain.derainer import Derainer
    from stream_derain.image_job import plan_image_job, run_image_job
    from stream_derain.tiling import parse_tile

    tile_size = parse_tile(tile)
    pairs = plan_image_job(source, output, overwrite)
    derainer = Derainer(model=model, device=device, backend=backend, tile=tile_size)
    warn_if_untrained(derainer)
    with Progress(disable=quiet or len(pairs) < 2, transient=True) as progress:
        task = progress.add_task("derain", total=len(pairs))
        summary = run_image_job(pairs, derainer, save_mask, lambda _: progress.advance(task))
    for path, reason in summary.skipped:
        typer.echo(f"derain: warning: skipped {path}: {reason}", err=True)
    if not quiet:
        typer.echo(f"{len(summary.written)} written, {len(summary.skipped)} skipped ({derainer.runner.name})")
    if not summary.written:
        raise typer.Exit(1)


@app.command()
def info(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Also show this model's size and cost."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Versions, devices and working backends; with --model, its parameters and GMACs."""
    import json

    from stream_derain.info import environment_info, model_info

    report = {"environment": environment_info()}
    if model:
        report["model"] = model_info(model)
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    env = report["environment"]
    for key in ("python", "torch", "av", "onnxruntime", "tensorrt", "opencv"):
        typer.echo(f"{key:12} {env[key]}")
    cuda = env["cuda_device"]
    typer.echo(f"{'cuda device':12} {cuda['name'] + ' (sm ' + cuda['capability'] + ')' if cuda else 'none'}")
    typer.echo(f"{'backends':12} {', '.join(env['backends'])}")
    if model:
        m = report["model"]
        typer.echo(f"{'model':12} {m['model']} (preset {m['preset']}, {'trained' if m['trained'] else 'UNTRAINED'})")
        typer.echo(f"{'parameters':12} {m['parameters']:,}")
        typer.echo(f"{'cost':12} {m['gmacs']:.1f} GMAC at {m['resolution']} ({m['arn_share']:.0%} in the ARN)")


# --- synth commands ---


def parse_range(text: str, name: str) -> tuple[float, float]:
    """'0.1' or '0.05,0.4' -> (low, high)."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise DerainError(f"--{name} takes a number or LOW,HIGH, got {text!r}") from None
    if len(values) not in (1, 2):
        raise DerainError(f"--{name} takes a number or LOW,HIGH, got {text!r}")
    return (values[0], values[-1])


@app.command("synth")
def synth_command(
    clean: Path = typer.Argument(..., help="A clean image, a folder of images, or a video."),
    out: Path = typer.Argument(..., help="Output folder (data/, gt/, mask/ for images; NAME_rain.mp4 for video)."),
    density: Optional[str] = typer.Option(None, help="Share of the frame covered by drops: a value or LOW,HIGH."),
    size: Optional[str] = typer.Option(None, help="Drop radius in pixels: LOW,HIGH (heavy-tailed: most drops are small)."),
    focus_mix: Optional[float] = typer.Option(None, help="Share of out-of-focus drops, 0 (all sharp) to 1 (all blurry)."),
    defocus: Optional[str] = typer.Option(None, help="Blur of the out-of-focus drops, Gaussian sigma in px: a value or LOW,HIGH."),
    veil: Optional[str] = typer.Option(None, help="Whole-frame haze from the wet glass: a value or LOW,HIGH."),
    veil_spread: Optional[float] = typer.Option(None, help="0: one veil strength per frame; more: the veil follows the drops' local coverage (Gaussian sigma, px)."),
    veil_chance: Optional[float] = typer.Option(None, help="The share of images (or clips) that get a veil at all, 0 to 1."),
    veil_level: Optional[str] = typer.Option(None, help="The grey the veil fades toward, 0 to 1 (a value or LOW,HIGH): a dim film between the drops. Default: their bright airlight."),
    sensor_noise: Optional[str] = typer.Option(None, help="The camera's grain on rain and clean alike, Gaussian sigma in grey levels: a value or LOW,HIGH. Default: none."),
    scene_light: Optional[str] = typer.Option(None, help="The drops' haze fades toward the frame's mean colour times this (a value or LOW,HIGH) instead of a bright grey."),
    scene_light_chance: Optional[float] = typer.Option(None, help="With --scene-light: the share of images (or clips) it applies to, 0 to 1."),
    scene_bokeh: Optional[str] = typer.Option(None, help="Still images: out-of-focus lights drawn into the clean scene (in both pictures), this many per 128x128 px: a value or LOW,HIGH."),
    scene_bokeh_chance: Optional[float] = typer.Option(None, help="With --scene-bokeh: the share of images it applies to, 0 to 1."),
    scene_defocus: Optional[str] = typer.Option(None, help="Still images: the clean scene out of focus (in both pictures), a lens's disc of this radius in px: a value or LOW,HIGH."),
    scene_defocus_chance: Optional[float] = typer.Option(None, help="With --scene-defocus: the share of images it applies to, 0 to 1."),
    see_through: Optional[str] = typer.Option(None, help="Translucent drops: the share of each drop's light that is the scene straight behind it, 0 to 1 (a value or LOW,HIGH)."),
    see_through_chance: Optional[float] = typer.Option(None, help="With --see-through: the share of images (or clips) it applies to, 0 to 1."),
    see_through_radius: Optional[str] = typer.Option(None, help="With --see-through: LOW,HIGH drop radii (px) over which that share grows from nothing to all of it; default: every drop alike."),
    rim: Optional[str] = typer.Option(None, help="Darkening at the drops' rims, 0 (none) to below 1: a value or LOW,HIGH."),
    highlight: Optional[str] = typer.Option(None, help="The drops' specular highlights, 0 (none) and up: a value or LOW,HIGH."),
    seed: int = typer.Option(0, help="The same seed gives the same drops, bit for bit."),
    count: int = typer.Option(1, help="Rainy versions of each image."),
    frames: int = typer.Option(0, help="With images: make a clip of this many frames, the camera moving."),
    fps: float = typer.Option(25.0, help="Frame rate of clips made from images."),
    motion: str = typer.Option("mixed", help="Camera over images: pan, zoom, shake or mixed."),
    rain_rate: float = typer.Option(0.03, help="Video: new drops per frame per 100x100 pixels."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs (videos, or the pairs in OUT)."),
) -> None:
    """Render raindrops onto clean images or video."""
    import warnings

    from stream_derain.synth import RainConfig, synth_path
    from stream_derain.synth.camera import MOTIONS

    if motion not in MOTIONS:
        raise DerainError(f"--motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
    # options left out keep RainConfig's defaults, so the CLI and the library render alike
    overrides = {
        "density": density and parse_range(density, "density"),
        "radius": size and parse_range(size, "size"),
        "focus_mix": focus_mix,
        "blur_sigma": defocus and parse_range(defocus, "defocus"),
        "veil": veil and parse_range(veil, "veil"),
        "veil_spread": veil_spread,
        "veil_chance": veil_chance,
        "veil_level": veil_level and parse_range(veil_level, "veil-level"),
        "sensor_noise": sensor_noise and parse_range(sensor_noise, "sensor-noise"),
        "scene_light": scene_light and parse_range(scene_light, "scene-light"),
        "scene_light_chance": scene_light_chance,
        "scene_bokeh": scene_bokeh and parse_range(scene_bokeh, "scene-bokeh"),
        "scene_bokeh_chance": scene_bokeh_chance,
        "scene_defocus": scene_defocus and parse_range(scene_defocus, "scene-defocus"),
        "scene_defocus_chance": scene_defocus_chance,
        "see_through": see_through and parse_range(see_through, "see-through"),
        "see_through_chance": see_through_chance,
        "see_through_radius": see_through_radius and parse_range(see_through_radius, "see-through-radius"),
        "rim": rim and parse_range(rim, "rim"),
        "highlight": highlight and parse_range(highlight, "highlight"),
    }
    config = RainConfig(**{key: value for key, value in overrides.items() if value is not None})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped files are counted and reported below
        report = synth_path(clean, out, config, seed, count, frames, fps, motion, rain_rate, overwrite)
    typer.echo(f"wrote {report.written} to {out}")
    if report.skipped:
        typer.echo(f"skipped {len(report.skipped)} unreadable: {', '.join(p.name for p in report.skipped)}", err=True)


@app.command("sources")
def sources_command(
    export: Optional[Path] = typer.Option(None, help="Copy the sources into this folder."),
    kind: Optional[str] = typer.Option(None, help="Only 'image' or 'video' sources."),
) -> None:
    """List the clean photos and videos that installed packages ship, or export them."""
    from stream_derain.synth.sources import available_sources, export_sources

    if kind not in (None, "image", "video"):
        raise DerainError(f"--kind must be image or video, got {kind!r}")
    if export is not None:
        written = export_sources(export, kind)
        typer.echo(f"exported {len(written)} sources to {export}")
        return
    found = available_sources(kind)
    if not found:
        typer.echo("no clean sources installed (pip install scikit-image, or stream-derain[synth])")
    for source, path in found:
        typer.echo(f"{source.name:28} {source.kind:6} {source.licence:45} {path}")


# --- video commands ---


@app.command()
def video(
    paths: list[Path] = typer.Argument(..., help="IN OUT; or, with --out-dir, video files and folders."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Derain several inputs into this folder (same names)."),
    model: str = ModelOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    reuse: Optional[str] = typer.Option(
        None, "--reuse", help="Attention reuse: none, keyframe:K, recurrent:M, adaptive[:K[:T]]. Default: see docs/TEMPORAL.md."
    ),
    batch: int = typer.Option(4, "--batch", min=1, help="Frames per inference batch."),
    encoder: str = typer.Option(
        "libx264", "--encoder", help="libx264, libx265, libvpx-vp9, libsvtav1, h264_nvenc or hevc_nvenc."
    ),
    crf: Optional[int] = typer.Option(None, "--crf", help="Constant quality (lower is better); encoder default if unset."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Encoder speed preset (x264: ultrafast..veryslow)."),
    pix_fmt: Optional[str] = typer.Option(None, "--pix-fmt", help="Output pixel format (default yuv420p; yuv444p for odd sizes)."),
    bitrate: Optional[str] = typer.Option(None, "--bitrate", help="Target bitrate, e.g. 4M, instead of --crf."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Drop audio and subtitle streams."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    keep_partial: bool = typer.Option(False, "--keep-partial", help="On failure or Ctrl-C, keep OUT.partial.EXT."),
    tile: Optional[str] = TileOption,
    compile: bool = CompileOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    json_output: bool = typer.Option(False, "--json", help="Print each summary as one JSON line on stdout."),
) -> None:
    """Remove raindrops from a video: every frame, its timing, audio and subtitles kept."""
    import json

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from stream_derain.derainer import Derainer
    from stream_derain.pipeline import derain_video
    from stream_derain.temporal import DEFAULT_POLICY, parse_policy
    from stream_derain.tiling import parse_tile
    from stream_derain.video import EncoderOptions, plan_video_job

    options = EncoderOptions(encoder, crf, preset, pix_fmt, bitrate)
    options.validate()
    tile_size = parse_tile(tile)
    parse_policy(reuse or DEFAULT_POLICY)
    jobs = plan_video_job(paths, out_dir)
    derainer = Derainer(model=model, device=device, backend=backend, compile=compile)
    warn_if_untrained(derainer)
    note_compile(derainer, quiet)
    console = Console(stderr=True)
    failed = 0
    for source, output in jobs:
        columns = (
            TextColumn(source.name), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:.1f} fps"), TimeRemainingColumn(),
        )
        try:
            with Progress(*columns, console=console, disable=quiet or not console.is_terminal, transient=True) as bar:
                task = bar.add_task("derain", total=None, fps=0.0)

                def advance(done: int, total: int) -> None:
                    elapsed = bar.tasks[0].elapsed or 0.0
                    bar.update(task, completed=done, total=max(total, done) or None, fps=done / elapsed if elapsed else 0.0)

                summary = derain_video(
                    source, output, model=derainer.model, runner=derainer.runner, reuse=reuse or DEFAULT_POLICY,
                    batch=batch, encoder=options, audio=not no_audio, overwrite=overwrite,
                    keep_partial=keep_partial, progress=advance, tile=tile_size,
                )
        except KeyboardInterrupt:
            kept = f"; partial kept as {output.stem}.partial{output.suffix}" if keep_partial else ""
            typer.echo(f"derain: interrupted: {output} not written{kept}", err=True)
            raise typer.Exit(130)
        except DerainError as error:
            if len(jobs) == 1:
                raise
            typer.echo(f"derain: error: {source}: {error}", err=True)
            failed += 1
            continue
        for warning in summary.warnings:
            typer.echo(f"derain: warning: {source.name}: {warning}", err=True)
        if json_output:
            typer.echo(json.dumps(summary.to_dict()))
        elif not quiet:
            typer.echo(summary.line())
    if failed:
        raise typer.Exit(1)



# --- engine commands ---


@app.command("build-engine")
def build_engine(
    model: str = typer.Option("lite", "--model", "-m", help="Preset (lite, full) or checkpoint file."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Folder for the ONNX files, engines and manifests [default: ~/.cache/stream-derain/engines/<sha256[:12] of the weights>]."
    ),
    min_shape: str = typer.Option("1x64x64", "--min-shape", help="Smallest input the engines take, BxHxW or HxW."),
    opt_shape: str = typer.Option("1x480x720", "--opt-shape", help="The input size TensorRT tunes for."),
    max_shape: str = typer.Option("1x1088x1920", "--max-shape", help="Largest input the engines take."),
    workspace_mb: int = typer.Option(4096, "--workspace-mb", min=16, help="TensorRT builder workspace limit, MiB."),
    force: bool = typer.Option(False, "--force", help="Re-export and rebuild even what is up to date."),
) -> None:
    """Export and check the ONNX graphs (fp32, fp16), then build TensorRT FP16 engines.

    Exit 0: engines built or up to date. Exit 3: the ONNX files are written and verified, but
    TensorRT or CUDA is missing here (the trtexec commands to finish elsewhere are printed).
    Exit 4: an export disagreed with torch. Exit 2: bad arguments or model.
    """
    from engines.build import EXIT_NO_TENSORRT, build_engines
    from engines.export import ParityError
    from engines.tensorrt import ShapeProfile
    from stream_derain.checkpoint import load_model

    loaded = load_model(model)
    profile = ShapeProfile.parse(min_shape, opt_shape, max_shape, loaded.generator.config.pad_multiple)
    try:
        report = build_engines(loaded.generator, out, profile, workspace_mb, force, log=typer.echo)
    except ParityError as error:
        fail(str(error), code=4)
    if report.missing:
        typer.echo(
            f"derain: TensorRT engines NOT built: {report.missing}. The ONNX files in {report.folder} are written "
            "and verified. To build the same engines on a machine with TensorRT and a GPU:",
            err=True,
        )
        for command in report.trtexec:
            typer.echo(f"  {command}", err=True)
        raise typer.Exit(EXIT_NO_TENSORRT)
    typer.echo(f"TensorRT engines ready in {report.folder}")


# --- train and eval commands ---


@app.command("train")
def train_command(
    recipe: Optional[Path] = typer.Option(None, "--recipe", "-r", help="TOML (or YAML) file holding every option; see train/recipes/."),
    set_options: list[str] = typer.Option([], "--set", help="Override any recipe option: table.key=value (e.g. loss.gan=0.02). Repeatable."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Run folder: training state, logs, best.pt (run.out)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out exactly where it stopped."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total training steps (run.steps)."),
    stop_at: Optional[int] = typer.Option(None, "--stop-at", help="Stop after this step with a checkpoint, to --resume later."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Preset to train: lite or full (model.preset)."),
    init: Optional[str] = typer.Option(None, "--init", help="Start from these weights: a preset's shipped weights (lite) or a checkpoint, to fine-tune (run.init)."),
    data_root: Optional[str] = typer.Option(None, "--data", help="Clean images to render drops on, or a pairs folder (data.root)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Per-process batch size (data.batch_size)."),
    crop: Optional[int] = typer.Option(None, "--crop", help="Training crop size in pixels (data.crop)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Data loader worker processes (data.workers)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (optim.lr)."),
    vgg_weights: Optional[str] = typer.Option(None, "--vgg-weights", help="torchvision vgg16 state dict for the perceptual loss (loss.vgg_weights)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda (run.device)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="run.seed"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show the progress bar (run.progress)."),
    tensorboard: Optional[bool] = typer.Option(None, "--tensorboard/--no-tensorboard", help="Log to TensorBoard when installed (run.tensorboard)."),
) -> None:
    """Train a generator (the attentive GAN). Same command under torchrun for N processes."""
    from train.config import load_config
    from train.trainer import saved_options, train

    model_table = {"model.preset": model} if model else {}
    values = {
        **model_table, "run.out": out, "run.steps": steps, "run.stop_at": stop_at, "data.root": data_root,
        "data.batch_size": batch_size, "data.crop": crop, "data.workers": workers, "optim.lr": lr,
        "loss.vgg_weights": vgg_weights, "run.device": device, "run.seed": seed, "run.progress": progress,
        "run.tensorboard": tensorboard, "run.init": init,
    }
    base = None
    if resume and recipe is None:
        base = saved_options(Path(out or load_config().run.out))
        values["run.stop_at"] = stop_at or 0  # a saved stop point is not a reason to stop again
    config = load_config(recipe, set_options, values, base)
    train(config, resume=resume)


@app.command("eval")
def eval_command(
    pairs: Path = typer.Argument(..., help="Paired folder: data/ + gt/ (Raindrop) or rain/ + clean/, N_rain.png with N_clean.png."),
    model: str = ModelOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """PSNR/SSIM by the paper's protocol, per image and mean, beside the identity baseline."""
    import json

    from rich.console import Console

    from stream_derain.derainer import Derainer
    from stream_derain.evaluate import EvalReport, evaluate, find_pairs, report_table

    found = find_pairs(pairs)
    derainer = Derainer(model=model, device=device, backend=backend)
    warn_if_untrained(derainer)
    report = EvalReport(str(pairs), derainer.model.source, evaluate(found, derainer))
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        Console().print(report_table(report))


# --- live commands ---


@app.command()
def live(
    source: str = typer.Argument(
        ..., help="Webcam index (0) or /dev/videoN; an rtsp/udp/tcp/http(s)/srt URL; lavfi:GRAPH; or a video file."
    ),
    model: str = ModelOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    reuse: Optional[str] = typer.Option(
        None, "--reuse", help="Attention reuse: none, keyframe:K, recurrent:M, adaptive[:K[:T]]. Default: see docs/TEMPORAL.md."
    ),
    record: Optional[Path] = typer.Option(None, "--record", help="Also record the derained video to this file (.mp4, .mkv...)."),
    stream: Optional[str] = typer.Option(
        None, "--stream", help="Also send it, H.264 in MPEG-TS, to udp://HOST:PORT or tcp://HOST:PORT (?listen=1 to serve); or push to rtsp:// (a server) or srt://."
    ),
    display: bool = typer.Option(
        True, "--display/--no-display", help="Show a window (keys: q quit, s side by side, m attention map, space pause)."
    ),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many derained frames."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.001, help="Stop after this many seconds."),
    reconnect: Optional[bool] = typer.Option(
        None, "--reconnect/--no-reconnect", help="Reopen a lost source with backoff (default: on for network sources)."
    ),
    stall_timeout: float = typer.Option(5.0, "--stall-timeout", min=0.1, help="Seconds without data before a network source counts as lost."),
    realtime: bool = typer.Option(False, "--realtime", help="Play a file at its own frame rate (else every frame, as fast as inference)."),
    loop: bool = typer.Option(False, "--loop", help="Start a file over at its end."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --record file."),
    keep_partial: bool = typer.Option(False, "--keep-partial", help="If the run fails, keep the recording as OUT.partial.EXT."),
    tile: Optional[str] = TileOption,
    compile: bool = CompileOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No status line or summary."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as one JSON line on stdout."),
) -> None:
    """Derain a webcam or network stream in real time: a window, a recording, a network stream."""
    import json

    from stream_derain.derainer import Derainer
    from stream_derain.live import derain_live
    from stream_derain.temporal import DEFAULT_POLICY, parse_policy
    from stream_derain.tiling import parse_tile

    policy = reuse or DEFAULT_POLICY
    parse_policy(policy)
    tile_size = parse_tile(tile)
    derainer = Derainer(model=model, device=device, backend=backend, compile=compile)
    warn_if_untrained(derainer)
    note_compile(derainer, quiet)
    status_line = sys.stderr.isatty() and not quiet and not display

    def log(message: str) -> None:
        if not quiet:
            typer.echo(f"\nderain: {message}" if status_line else f"derain: {message}", err=True)

    summary = derain_live(
        source, model=derainer.model, runner=derainer.runner, reuse=policy, record=record, stream=stream,
        display=display, max_frames=max_frames, duration=duration, reconnect=reconnect, realtime=realtime,
        loop=loop, stall_timeout=stall_timeout, overwrite=overwrite, keep_partial=keep_partial, tile=tile_size, log=log,
        on_stats=(lambda snapshot: typer.echo(f"\r{snapshot.line()}", err=True, nl=False)) if status_line else None,
    )
    if status_line:
        typer.echo("", err=True)
    for warning in summary.warnings:
        typer.echo(f"derain: warning: {warning}", err=True)
    if json_output:
        typer.echo(json.dumps(summary.to_dict()))
    elif not quiet:
        typer.echo(summary.line())


# --- bench commands ---


@app.command()
def bench(
    model: str = ModelOption,
    backend: list[str] = typer.Option(["auto"], "--backend", help="Repeat to compare backends."),
    device: str = DeviceOption,
    precision: str = typer.Option("auto", "--precision", help="auto, fp32 or fp16 (torch on CUDA)."),
    cuda_graphs: bool = typer.Option(False, "--cuda-graphs", help="torch on CUDA: replay CUDA graphs."),
    compile: bool = CompileOption,
    resolution: list[str] = typer.Option(["480x720"], "--resolution", "-r", help="480x720, 720p, 1080p, 4k; repeatable."),
    batch: int = typer.Option(1, "--batch", min=1),
    reuse: str = typer.Option("none", "--reuse", help="none, keyframe:K, recurrent:M, adaptive."),
    frames: int = typer.Option(8, "--frames", min=1, help="Frames per timed repeat."),
    repeats: int = typer.Option(3, "--repeats", min=1),
    end_to_end: bool = typer.Option(False, "--e2e", help="Also run `derain video` on a rendered clip: fps, stage times."),
    e2e_frames: int = typer.Option(
        16, "--e2e-frames", min=1, help="Length of the --e2e clip; on a GPU use hundreds of frames, or the start weighs in."
    ),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Write the records to this JSON file."),
) -> None:
    """Measure inference fps, TFLOP/s and peak memory (and with --e2e the whole pipeline)."""
    import json

    from rich.console import Console
    from rich.table import Table

    from stream_derain.backends.select import select_runner
    from stream_derain.bench import bench_end_to_end, bench_inference, parse_resolution
    from stream_derain.checkpoint import load_model

    try:
        sizes = [parse_resolution(text) for text in resolution]
    except ValueError as error:
        raise DerainError(str(error)) from None
    loaded = load_model(model)
    records = []
    table = Table("backend", "size", "reuse", "fps", "spread", "TFLOP/s", "host MiB", "GPU MiB", "e2e fps", "e2e/inf")
    for name in backend:
        runner = select_runner(loaded.generator, name, device, precision=precision, cuda_graphs=cuda_graphs,
                               compile=compile)
        for height, width in sizes:
            result = bench_inference(runner, loaded.generator, height, width, batch, reuse, frames, repeats=repeats)
            record = {"model": loaded.source, **result.to_dict()}
            e2e = bench_end_to_end(runner, loaded, height, width, batch, reuse, e2e_frames) if end_to_end else None
            if e2e:
                record["end_to_end"] = vars(e2e)
            records.append(record)
            gpu = f"{result.peak_gpu_mib:.0f}" if result.peak_gpu_mib is not None else "-"
            table.add_row(result.backend, f"{height}x{width}", result.reuse, f"{result.fps_median:.2f}",
                          f"{result.fps_min:.2f}-{result.fps_max:.2f}", f"{result.tflops:.3f}",
                          f"{result.peak_host_mib:.0f}", gpu, f"{e2e.fps:.2f}" if e2e else "-",
                          f"{e2e.efficiency:.2f}" if e2e else "-")
    Console(width=max(120, Console().width)).print(table)
    if json_file:
        json_file.write_text(json.dumps(records, indent=2))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: partial outputs are removed


def main() -> None:
    """Console entry point: user errors become one line and a non-zero exit, never a traceback."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()  # typer itself turns usage errors into messages and Ctrl-C into exit 130
    except DerainError as error:
        typer.echo(f"derain: error: {error}", err=True)
        sys.exit(2)
    except OSError as error:  # disk full, permission denied mid-run: say so in one line
        where = f": {error.filename}" if error.filename else ""
        typer.echo(f"derain: error: {error.strerror or error}{where}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
