"""`derain train`: the attentive GAN's training loop, as the paper (a D step, then a G step).

Reads top to bottom: options, processes, data, models, optimizers, resume, then the loop with
its logging, validation and checkpoints. One command on 1 or N processes (see distributed.py).

Exact resume: a training checkpoint holds both models, both optimizers and grad scalers, the
step, every rank's RNG states and the data position. Each sample is drawn from its position in
one global stream under its own seed, so a resumed run sees the same batches as a straight one.
"""

from __future__ import annotations

import copy
import json
import math
import platform
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, Subset

from stream_derain.checkpoint import load_model, load_plain, save_checkpoint
from stream_derain.errors import DerainError
from stream_derain.frames import crop_to, pad_to_multiple
from stream_derain.metrics import Scores, score
from stream_derain.models import Discriminator, Generator

from . import distributed
from .config import DataOptions, OptimOptions, TrainConfig, changed_options, config_from_dict
from .losses import PerceptualLoss, attention_probability, attentive_loss, discriminator_loss, generator_losses
from .second_pass import second_pass_batch, second_pass_step
from .vgg import load_vgg16

STATE_FILE = "train_state.pt"
STATE_FORMAT = "stream-derain-train-state"
BEST_FILE = "best.pt"
FINAL_FILE = "final.pt"
LOG_FILE = "metrics.jsonl"
PSNR_CAP = 100.0  # a drop-free pair restored exactly would make the mean infinite
VAL_SEED = 1_000_003  # validation pairs are drawn under their own seed, the same in every run
MAX_DRAWS = 8  # re-draws of a sample whose drops cover too little of the crop
WORKER_START = "forkserver"  # how data loader workers start (see `train`)
DRY_STREAM = 1  # the seed stream that decides which samples show dry glass


# --- data: a resumable stream of samples -------------------------------------------------


def sample_seed(seed: int, position: int) -> int:
    return int(np.random.SeedSequence([seed, position]).generate_state(1)[0])


class StreamBatches(Sampler):
    """Batches of (index, seed) for one rank, from a global stream of sample positions.

    Step k of rank r takes positions start + (k * world + r) * batch + j. A data set of `length`
    items is walked in a fresh permutation every epoch; an endless one (length None) is indexed
    by position. The stream itself never ends.
    """

    def __init__(self, length: int | None, batch_size: int, rank: int, world_size: int, seed: int, start: int):
        self.length, self.batch_size = length, batch_size
        self.rank, self.world_size = rank, world_size
        self.seed, self.start = seed, start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, order = -1, None
        step = 0
        while True:
            first = self.start + (step * self.world_size + self.rank) * self.batch_size
            batch = []
            for position in range(first, first + self.batch_size):
                index = position
                if self.length is not None:
                    if position // self.length != epoch:
                        epoch = position // self.length
                        order = torch.randperm(self.length, generator=torch.Generator().manual_seed(self.seed + epoch))
                    index = int(order[position % self.length])
                batch.append((index, sample_seed(self.seed, position)))
            yield batch
            step += 1


class SeededItems(Dataset):
    """Draws a sample from its position's own seed, so that it depends on nothing else.

    A map-style item is drawn with every global RNG seeded (random crops, drops), leaving the
    caller's RNG state untouched. An endless stream (an IterableDataset with a `seed`, such as
    data.RenderedRain) gives the first item of a copy of itself seeded with the sample's seed.
    A sample whose drops cover less than `min_drop_coverage` is drawn again. A share
    `dry_fraction` of samples shows dry glass: the input is the clean image and the mask empty,
    so a model learns to leave a frame alone where there is nothing to remove.
    """

    def __init__(self, dataset: Dataset, min_drop_coverage: float = 0.0, dry_fraction: float = 0.0):
        self.dataset, self.min_drop_coverage, self.dry_fraction = dataset, min_drop_coverage, dry_fraction

    def draw(self, index: int, seed: int) -> dict[str, torch.Tensor]:
        if isinstance(self.dataset, IterableDataset):
            stream = copy.copy(self.dataset)
            stream.seed = seed
            return next(iter(stream))
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        return self.dataset[index]

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            with torch.random.fork_rng(devices=[]):
                for draw in range(MAX_DRAWS):
                    item = self.draw(index, sample_seed(seed, draw))
                    if float(item["mask"].mean()) >= self.min_drop_coverage:
                        break
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)
        if self.dry_fraction and np.random.default_rng([seed, DRY_STREAM]).random() < self.dry_fraction:
            item = {**item, "rain": item["clean"].clone(), "mask": torch.zeros_like(item["mask"])}
        return item


def saved_options(out_dir: Path) -> dict[str, Any]:
    """The options of the run saved in `out_dir`, to resume it without its recipe file."""
    path = Path(out_dir) / STATE_FILE
    if not path.is_file():
        raise DerainError(f"nothing to resume: {path} not found")
    return torch.load(path, map_location="cpu", weights_only=True)["config"]


def split_sources(files: list[Path], held_out: list[str]) -> tuple[list[Path], list[Path]]:
    """Training and validation sources: files whose stem is in `held_out` only validate."""
    train_files = [f for f in files if f.stem not in held_out]
    val_files = [f for f in files if f.stem in held_out]
    if not train_files or not val_files:
        names = ", ".join(f.stem for f in files)
        raise DerainError(f"data.val_sources {held_out} must name some, not all, of the clean sources: {names}")
    return train_files, val_files


def build_datasets(options: DataOptions, seed: int) -> tuple[Dataset, Dataset, str]:
    """The training data, the held-out validation pairs, and a line describing them.

    "render": fresh drops on random crops of clean images and video frames, every sample new;
    validation renders fixed drops on held-out sources. "pairs": a Raindrop-layout (data/ + gt/)
    or rain/ + clean/ folder, whose last `val_pairs` pairs are held out.
    """
    from stream_derain.synth import RainConfig
    from stream_derain.synth.sources import available_sources

    from . import data

    if options.source == "render":
        if options.root:
            root = Path(options.root)
            files = sorted(p for p in root.iterdir() if p.is_file()) if root.is_dir() else []
        else:
            files = sorted((path for _, path in available_sources()), key=lambda p: p.stem)
        if not files:
            raise DerainError(f"no clean images or videos in {options.root or 'the installed packages'}")
        train_files, val_files = split_sources(files, options.val_sources)
        try:
            rain = RainConfig(veil=tuple(options.veil), veil_spread=options.veil_spread, veil_chance=options.veil_chance,
                              veil_level=tuple(options.veil_level) or None, haze=tuple(options.haze),
                              rim=tuple(options.rim), highlight=tuple(options.highlight),
                              sensor_noise=tuple(options.sensor_noise) or None,
                              scene_light=tuple(options.scene_light) or None, scene_light_chance=options.scene_light_chance,
                              scene_bokeh=tuple(options.scene_bokeh) or None, scene_bokeh_chance=options.scene_bokeh_chance,
                              scene_defocus=tuple(options.scene_defocus) or None, scene_defocus_chance=options.scene_defocus_chance,
                              see_through=tuple(options.see_through) or None, see_through_chance=options.see_through_chance,
                              see_through_radius=tuple(options.see_through_radius) or None,
                              blur_sigma=tuple(options.blur_sigma), mask_threshold=options.mask_threshold)
        except DerainError as error:
            raise DerainError(f"data options: {error}") from None
        common = {"config": rain, "seed": seed, "min_mask_fraction": options.min_drop_coverage, "tone_jitter": options.tone_jitter}
        train_set = data.RenderedRain(train_files, options.crop, **common)
        val_set = data.RenderedRain(val_files, options.val_size, **common)
        names = ", ".join(f.stem for f in train_files)
        held = ", ".join(f.stem for f in val_files)
        return train_set, val_set, f"drops rendered on the fly on {len(train_files)} clean sources ({names}); validation on {held}"
    root = Path(options.root)
    if (root / "data").is_dir():
        pairs, held = data.RaindropDataset(root, options.crop, flip=True), data.RaindropDataset(root, options.val_size)
    else:
        pairs = data.PairFolder(root / "rain", root / "clean", crop=options.crop, flip=True)
        held = data.PairFolder(root / "rain", root / "clean", crop=options.val_size)
    count = len(pairs) - options.val_pairs
    if count < 1:
        raise DerainError(f"{root} has {len(pairs)} pairs: too few to hold {options.val_pairs} out for validation")
    return Subset(pairs, range(count)), Subset(held, range(count, len(pairs))), f"{count} pairs from {root}; validation on its last {options.val_pairs}"


# --- optimisation ----------------------------------------------------------------------


def lr_factor(step: int, options: OptimOptions, total_steps: int) -> float:
    """Linear warm-up, then constant, cosine (down to min_lr_ratio) or step decay."""
    if step < options.warmup:
        return (step + 1) / options.warmup
    if options.decay == "cosine":
        progress = min(1.0, (step - options.warmup) / max(1, total_steps - options.warmup))
        return options.min_lr_ratio + (1 - options.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if options.decay == "step":
        return options.decay_gamma ** sum(step >= milestone for milestone in options.milestones)
    return 1.0


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, parameters: list, clip: float) -> None:
    if clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, clip)
    scaler.step(optimizer)
    scaler.update()


def read_state(path: Path) -> dict[str, Any]:
    """A run's train_state.pt, loaded safely and checked to be one."""
    state = load_plain(path, "training checkpoint")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise DerainError(f"{path} is not a stream-derain training checkpoint")
    return state


def mask_activation(mask_loss: str) -> str:
    """How a model file's map is read (stream_derain.checkpoint): a map trained with BCE is logits."""
    return "sigmoid" if mask_loss == "bce" else "none"


# --- RNG states, kept as plain tensors and lists so that weights_only loading accepts them ---


def rng_state() -> dict[str, Any]:
    _, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)],
        "python": [version, list(python_state), python_gauss],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, python_state, python_gauss = state["python"]
    random.setstate((version, tuple(python_state), python_gauss))


# --- validation --------------------------------------------------------------------------


def as_frame(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) uint8, leaving `image` untouched."""
    return (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def validation_pairs(val_set: Dataset, count: int) -> list[dict]:
    """The held-out pairs, each drawn under its own fixed seed: the same in every run and script.
    A rendered set gives `count` of them; a finite one (a folder of pairs) gives all it holds."""
    if not isinstance(val_set, IterableDataset):
        count = len(val_set)
    return [SeededItems(val_set)[(i, sample_seed(VAL_SEED, i))] for i in range(count)]


def mean_scores(scores: list[Scores]) -> Scores:
    return Scores(float(np.mean([min(s.psnr, PSNR_CAP) for s in scores])), float(np.mean([s.ssim for s in scores])))


def validate(generator: Generator, pairs: list[dict], device: torch.device) -> tuple[Scores, dict[str, torch.Tensor]]:
    """Mean PSNR/SSIM (paper protocol) of the generator on the validation pairs, and the first
    pair's images for the log."""
    scores, first = score_pairs(generator, pairs, device)
    return mean_scores(scores), first


@torch.no_grad()
def score_pairs(generator: Generator, pairs: list[dict], device: torch.device) -> tuple[list[Scores], dict[str, torch.Tensor]]:
    """Each pair's PSNR/SSIM (paper protocol), and the first pair's images for the log."""
    generator.eval()
    scores, first = [], {}
    for pair in pairs:
        x, size = pad_to_multiple(pair["rain"].unsqueeze(0).to(device), generator.config.pad_multiple)
        out = generator(x)
        restored = crop_to(out.output, size)[0].float().cpu()
        scores.append(score(as_frame(restored), as_frame(pair["clean"])))
        if not first:
            first = {"rain": pair["rain"], "output": restored, "clean": pair["clean"], "attention": crop_to(out.masks[-1], size)[0].float().cpu()}
    generator.train()
    return scores, first


def identity_scores(pairs: list[dict]) -> Scores:
    return mean_scores([score(as_frame(pair["rain"]), as_frame(pair["clean"])) for pair in pairs])


def hardware(device: torch.device, world_size: int) -> dict[str, Any]:
    info = {"device": str(device), "processes": world_size, "cpu": platform.processor() or platform.machine(),
            "cpu_threads": torch.get_num_threads(), "torch": str(torch.__version__)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


class RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed or 0:.2f} it/s")


# --- the run -----------------------------------------------------------------------------


def initial_weights(init: str, config: TrainConfig) -> dict[str, torch.Tensor]:
    """Trained weights of the recipe's own model, to start a fine-tune from.

    The recipe may add a coarse or fine branch or the detail gain to a model that lacks them: a
    new head starts at zero, so the run starts from what the loaded model computes (a larger
    padding multiple changes only how a frame's border is padded). It may also set `map_zoom`,
    which adds no weights: the same ARN reads the smaller frame."""
    loaded = load_model(init)
    if not loaded.trained:
        raise DerainError(f"run.init {init!r}: no trained weights ship for that preset")
    wanted = config.model_config()
    have = replace(loaded.generator.config, map_zoom=wanted.map_zoom)
    branches = ("coarse_scale", "fine_scale")
    added = {name: getattr(wanted, name) for name in branches if getattr(have, name) == 0 < getattr(wanted, name)}
    if wanted.detail_gain and not have.detail_gain:
        added["detail_gain"] = True
    adds_branch = bool(added)
    if adds_branch:
        have = replace(have, **added, coarse_channels=wanted.coarse_channels, pad_multiple=wanted.pad_multiple)
    if have != wanted:
        raise DerainError(f"run.init {init!r} holds a {have.preset} model unlike the recipe's "
                          f"[model] ({wanted.preset}{'' if wanted.preset != have.preset else ' with other options'})")
    if not adds_branch:
        return loaded.generator.state_dict()
    generator = Generator(wanted)
    generator.load_state_dict(loaded.generator.state_dict(), strict=False)  # all but the new heads
    return generator.state_dict()


def train(config: TrainConfig, resume: bool = False, train_set: Dataset | None = None, val_set: Dataset | None = None) -> dict[str, Any]:
    """Train (or resume) the run in `config.run.out`; return its step, best scores and models.

    `train_set`/`val_set` replace the recipe's data (items are dicts with "rain", "clean" and
    "mask" tensors); by default they come from train/data.py.
    """
    env = distributed.setup(config.run.device)
    try:
        return _train(config, resume, train_set, val_set, env)
    finally:
        distributed.teardown(env)


def _train(config: TrainConfig, resume: bool, train_set: Dataset | None, val_set: Dataset | None, env: distributed.Distributed) -> dict[str, Any]:
    run, options, loss_options = config.run, config.optim, config.loss
    device, amp = env.device, run.amp and env.device.type == "cuda"
    console = Console(stderr=True, quiet=not env.is_main)
    out_dir = Path(run.out)
    state_path = out_dir / STATE_FILE

    # the checkpoint to resume from, checked before any slow work
    state = None
    if resume:
        if not state_path.is_file():
            raise DerainError(f"nothing to resume: {state_path} not found")
        state = read_state(state_path)
        changed = changed_options(config_from_dict(state["config"]), config, state["step"])
        if changed:
            raise DerainError(f"the recipe differs from the run being resumed in: {', '.join(changed)}")
    elif state_path.exists():
        raise DerainError(f"{out_dir} already holds a run: pass --resume to continue it, or choose another --out")
    initial = initial_weights(run.init, config) if run.init and not state else None

    # data: the stream restarts at the saved position. DataLoader hands batches to its workers
    # in turn from the first, so a resumed stream starts a few batches early, on the worker
    # that drew that batch before, and skips them (workers only matter to endless streams).
    description = "given datasets"
    if train_set is None or val_set is None:
        train_set, val_set, description = build_datasets(config.data, run.seed)
    val_pairs = validation_pairs(val_set, config.data.val_pairs) if run.val_every else []
    batch_size, workers = config.data.batch_size, config.data.workers
    skip = state["step"] % workers if state and workers else 0
    start_position = state["samples_seen"] - skip * batch_size * env.world_size if state else 0
    length = None if isinstance(train_set, IterableDataset) else len(train_set)
    loader = DataLoader(
        SeededItems(train_set, config.data.min_drop_coverage, config.data.dry_fraction),
        batch_sampler=StreamBatches(length, batch_size, env.rank, env.world_size, run.seed, start_position),
        num_workers=workers,
        # Workers start from a fresh server process, not a fork of this one: a fork copies the
        # locks that this process's threads (OpenCV's, OpenMP's) may hold, and a worker can hang
        # on one (seen once in the test suite).
        multiprocessing_context=WORKER_START if workers > 0 else None,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )

    # models: the same initial weights on every rank, then a different RNG stream per rank
    torch.manual_seed(run.seed)
    generator = Generator(config.model_config()).to(device)
    if initial:
        generator.load_state_dict(initial)
        console.print(f"starting from the weights of {run.init}")
    generator.autoencoder.gate_gradient = loss_options.gate_gradient
    discriminator = Discriminator().to(device)
    torch.manual_seed(run.seed + env.rank)
    perceptual = None
    if loss_options.perceptual > 0 and loss_options.vgg_weights:
        perceptual = PerceptualLoss(load_vgg16(Path(loss_options.vgg_weights), loss_options.perceptual_layers)).to(device)
    elif loss_options.perceptual > 0:
        console.print("[yellow]perceptual loss off:[/] no VGG16 weights given (loss.vgg_weights or --vgg-weights)")
    use_gan = loss_options.gan > 0

    # optimizers and mixed precision
    betas = tuple(options.betas)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=options.lr, betas=betas, weight_decay=options.weight_decay)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=options.d_lr or options.lr, betas=betas, weight_decay=options.weight_decay)
    g_scaler = torch.amp.GradScaler(device.type, enabled=amp)
    d_scaler = torch.amp.GradScaler(device.type, enabled=amp)

    # resume: weights, optimizers, scalers, counters and this rank's RNG
    step, wall_time, best = 0, 0.0, None
    if state:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        g_optimizer.load_state_dict(state["g_optimizer"])
        d_optimizer.load_state_dict(state["d_optimizer"])
        g_scaler.load_state_dict(state["g_scaler"])
        d_scaler.load_state_dict(state["d_scaler"])
        step, wall_time, best = state["step"], state["wall_time"], state["best"]
        if state["world_size"] == env.world_size:
            set_rng_state(state["rng"][env.rank])
        else:
            console.print(f"[yellow]resuming on {env.world_size} processes, not {state['world_size']}:[/] the run continues, but not bit for bit")
        console.print(f"resuming {out_dir} at step {step}")

    g_model, d_model = generator, discriminator
    if env.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        g_model = DistributedDataParallel(generator, device_ids=device_ids)
        d_model = DistributedDataParallel(discriminator, device_ids=device_ids)

    # logs: a JSON-lines file always (cut back to the resumed step), TensorBoard when installed
    log, writer = None, None
    if env.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        log_path = out_dir / LOG_FILE
        kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["step"] <= step] if state and log_path.exists() else []
        log_path.write_text("".join(line + "\n" for line in kept))
        log = log_path.open("a")
        if run.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(str(out_dir / "tensorboard"))
            except ImportError:
                console.print("TensorBoard logging off: it is not installed (pip install tensorboard)")
    identity = identity_scores(val_pairs) if val_pairs and env.is_main else None
    if identity:
        console.print(f"validation: {len(val_pairs)} held-out pairs; identity {identity.psnr:.2f} dB / SSIM {identity.ssim:.4f}")

    def save_state() -> None:
        rngs = distributed.gather(env, rng_state())  # a collective: every rank calls it
        if not env.is_main:
            return
        payload = {
            "format": STATE_FORMAT, "config": config.to_dict(), "step": step,
            "samples_seen": start_position + (skip + step - start_step) * batch_size * env.world_size,
            "world_size": env.world_size, "rng": rngs, "best": best, "wall_time": wall_time + time.monotonic() - started,
            "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "g_optimizer": g_optimizer.state_dict(), "d_optimizer": d_optimizer.state_dict(),
            "g_scaler": g_scaler.state_dict(), "d_scaler": d_scaler.state_dict(),
        }
        temporary = state_path.with_name(f".{STATE_FILE}.partial")
        torch.save(payload, temporary)
        temporary.replace(state_path)

    def export(path: Path, scores: Scores | None) -> None:
        metadata = {
            "recipe": config.to_dict(), "data": description, "steps": step,
            "wall_time_s": round(wall_time + time.monotonic() - started, 1), "hardware": hardware(device, env.world_size),
            "mask_activation": mask_activation(loss_options.mask_loss),
        }
        if scores:
            metadata["val"] = {"psnr": scores.psnr, "ssim": scores.ssim, "pairs": len(val_pairs),
                               "identity_psnr": identity.psnr, "identity_ssim": identity.ssim}
        save_checkpoint(path, generator, metadata)

    # the loop
    stop_step = min(run.stop_at or run.steps, run.steps)
    start_step, started = step, time.monotonic()
    batches = iter(loader)
    for _ in range(skip):
        next(batches)
    progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn(),
                        TextColumn("{task.fields[status]}"), console=console, disable=not (run.progress and env.is_main))
    task = progress.add_task("train", total=run.steps, completed=step, status="")
    with progress:
        while step < stop_step:
            scale = lr_factor(step, options, run.steps)
            base_lr = options.arn_lr if step < options.arn_pretrain and options.arn_lr else options.lr
            for group in g_optimizer.param_groups:
                group["lr"] = base_lr * scale
            for group in d_optimizer.param_groups:
                group["lr"] = (options.d_lr or options.lr) * scale
            batch = next(batches)
            rain, clean, mask = (batch[key].to(device, non_blocking=True) for key in ("rain", "clean", "mask"))

            if step < options.arn_pretrain:
                # the ARN alone learns where the drops are; the autoencoder waits
                with torch.autocast(device.type, enabled=amp and run.arn_amp):
                    masks = generator.attend(rain)
                terms = {"total": loss_options.attention * attentive_loss(masks, mask, loss_options.theta, loss_options.mask_loss, loss_options.mask_pos_weight)}
                g_optimizer.zero_grad(set_to_none=True)
                g_scaler.scale(terms["total"]).backward()
                distributed.average_gradients(env, list(generator.arn.parameters()))  # DDP was bypassed
                optimizer_step(g_optimizer, g_scaler, list(generator.arn.parameters()), options.grad_clip)
            else:
                attention_target = None
                if second_pass_step(run.seed, step, config.data.second_pass):
                    rain, attention_target = second_pass_batch(generator, rain, clean, mask, config.data.mask_threshold, amp)
                with torch.autocast(device.type, enabled=amp):
                    out = g_model(rain)
                fake_logits, d_terms = None, {}
                if use_gan and step >= loss_options.gan_start:
                    # D step: real and fake in one forward, so DDP sees one forward per backward
                    with torch.autocast(device.type, enabled=amp):
                        maps, logits = d_model(torch.cat((clean, out.output.detach())))
                        real_map, fake_map = maps.chunk(2)
                        real_logits, fake_logits_d = logits.chunk(2)
                        attention = attention_probability(out.masks[-1], loss_options.mask_loss)
                        d_terms = discriminator_loss(real_logits, fake_logits_d, real_map, fake_map, attention, loss_options.gamma)
                    d_optimizer.zero_grad(set_to_none=True)
                    d_scaler.scale(d_terms["d_total"]).backward()
                    optimizer_step(d_optimizer, d_scaler, list(discriminator.parameters()), options.grad_clip)
                    # G step: gradients flow through a frozen D to the generator only
                    discriminator.requires_grad_(False)
                    with torch.autocast(device.type, enabled=amp):
                        fake_logits = discriminator(out.output)[1]
                    discriminator.requires_grad_(True)
                with torch.autocast(device.type, enabled=amp):
                    terms = generator_losses(out, clean, mask, loss_options, perceptual, fake_logits, attention_target)
                terms.update(d_terms)
                g_optimizer.zero_grad(set_to_none=True)
                g_scaler.scale(terms["total"]).backward()
                optimizer_step(g_optimizer, g_scaler, list(generator.parameters()), options.grad_clip)
            step += 1
            progress.update(task, advance=1)

            if step % run.log_every == 0 and env.is_main:
                values = {name: value.item() for name, value in terms.items()}
                record = {"step": step, "lr": base_lr * scale, **values, "time": round(time.monotonic() - started, 3)}
                log.write(json.dumps(record) + "\n")
                log.flush()
                progress.update(task, status=f"loss {values['total']:.4f}")
                if writer:
                    for name, value in values.items():
                        writer.add_scalar(f"loss/{name}", value, step)
                    writer.add_scalar("lr", base_lr * scale, step)

            if run.val_every and (step % run.val_every == 0 or step == run.steps) and env.is_main and val_pairs:
                scores, images = validate(generator, val_pairs, device)
                improved = best is None or scores.psnr > best["psnr"]
                if improved:
                    best = {"psnr": scores.psnr, "ssim": scores.ssim, "step": step}
                    export(out_dir / BEST_FILE, scores)
                if run.keep_every_val:
                    export(out_dir / f"val-{step}.pt", scores)
                gain = scores.psnr - identity.psnr
                console.print(f"step {step}: val {scores.psnr:.2f} dB ({gain:+.2f} over identity) SSIM {scores.ssim:.4f}{'  [best]' if improved else ''}")
                log.write(json.dumps({"step": step, "val_psnr": scores.psnr, "val_ssim": scores.ssim}) + "\n")
                log.flush()
                if writer:
                    writer.add_scalar("val/psnr", scores.psnr, step)
                    writer.add_scalar("val/ssim", scores.ssim, step)
                    for name in ("rain", "output", "clean"):
                        writer.add_image(f"val/{name}", images[name].clamp(0, 1), step)
                    probability = attention_probability(images["attention"], loss_options.mask_loss)
                    writer.add_image("val/attention", probability.clamp(0, 1), step)

            if step % run.ckpt_every == 0 or step == stop_step:
                save_state()

    if env.is_main:
        if step == run.steps:
            export(out_dir / FINAL_FILE, None)
        log.close()
        if writer:
            writer.close()
        console.print(f"{'finished' if step == run.steps else 'stopped'} at step {step}; state in {state_path}")
    return {"step": step, "best": best, "out": str(out_dir), "generator": generator, "discriminator": discriminator}
