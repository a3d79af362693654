"""Training options: one dataclass per recipe table, read from a TOML (or YAML) recipe.

A recipe file holds every option; `--set table.key=value` and the CLI's flags override it.
The same dictionary is saved in every training checkpoint and in the exported model's metadata.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, get_type_hints

from stream_derain.errors import DerainError
from stream_derain.models import PRESETS, ModelConfig
from stream_derain.synth.config import RainConfig


@dataclass
class DataOptions:
    # The renderer's ranges default to RainConfig's own, so a recipe that leaves them out renders
    # as `derain synth` does.
    source: str = "render"  # "render": fresh drops on clean images; "pairs": a paired folder
    root: str = ""  # a folder of clean images/videos (render) or of pairs; "" = installed images
    crop: int = 128
    batch_size: int = 8
    min_drop_coverage: float = 0.0  # re-draw a crop whose drops cover less than this fraction
    tone_jitter: bool = False  # render: a random contrast, brightness, gamma and saturation per clean crop
    dry_fraction: float = 0.0  # share of training samples showing dry glass (input = clean, empty mask)
    veil: list[float] = field(default_factory=lambda: list(RainConfig.veil))  # render: whole-frame veil range (synth.RainConfig)
    veil_spread: float = 0.0  # render: 0 = one veil strength per frame; > 0 = it follows the drops' local coverage (px)
    veil_chance: float = 1.0  # render: the share of crops with a veil at all
    haze: list[float] = field(default_factory=lambda: list(RainConfig.haze))  # render: how far a drop's view fades toward its bright airlight (synth.RainConfig)
    rim: list[float] = field(default_factory=lambda: list(RainConfig.rim))  # render: darkening at the drops' rims (synth.RainConfig)
    highlight: list[float] = field(default_factory=lambda: list(RainConfig.highlight))  # render: the drops' specular highlights (synth.RainConfig)
    veil_level: list[float] = field(default_factory=list)  # render: the grey the veil fades toward, LOW, HIGH (0..1); [] = the drops' bright airlight
    sensor_noise: list[float] = field(default_factory=list)  # render: the camera's grain, LOW, HIGH (sigma, levels of 255); [] = none
    scene_light: list[float] = field(default_factory=list)  # render: the drops' haze toward the frame's mean colour times LOW..HIGH; [] = a bright grey
    scene_light_chance: float = 1.0  # render: the share of crops whose drops take the scene's light
    scene_bokeh: list[float] = field(default_factory=list)  # render: out-of-focus lights in the clean scene, LOW..HIGH per 128 x 128 px; [] = none
    scene_bokeh_chance: float = 1.0  # render: the share of crops with such lights
    scene_defocus: list[float] = field(default_factory=list)  # render: the clean scene out of focus, a disc of LOW..HIGH px radius; [] = sharp
    scene_defocus_chance: float = 1.0  # render: the share of crops so defocused
    see_through: list[float] = field(default_factory=list)  # render: the share of a drop's light that is the scene straight behind it, LOW..HIGH (0..1); [] = none
    see_through_chance: float = 1.0  # render: the share of crops whose drops are so translucent
    see_through_radius: list[float] = field(default_factory=list)  # render: the share grows from drops of radius LOW px to HIGH px; [] = all drops alike
    blur_sigma: list[float] = field(default_factory=lambda: list(RainConfig.blur_sigma))  # render: defocus of out-of-focus drops, px (synth.RainConfig)
    mask_threshold: int = 30  # render: the attention target is |rain - clean|'s local mean > this inside drops (the paper: 30)
    # the share of joint steps whose batch input is the model's own output on it (a second pass's input;
    # the attention target is the drops' remnants by the same threshold): train/second_pass.py
    second_pass: float = 0.0
    workers: int = 0
    val_pairs: int = 32  # held-out pairs, fixed for the whole run
    val_sources: list[str] = field(default_factory=lambda: ["coffee", "flower", "bikes"])  # render: held-out files (stems)
    val_size: int = 256


@dataclass
class LossOptions:
    theta: float = 0.8  # attentive loss: step t weighs theta^(N - t)
    attention: float = 1.0
    mask_loss: str = "mse"  # "mse" (the paper, on the raw map) or "bce" (the map as logits)
    mask_pos_weight: float = 1.0  # BCE only: a missed drop pixel costs this many false alarms
    multiscale: list[float] = field(default_factory=lambda: [0.6, 0.8, 1.0])  # 1/4, 1/2, 1
    drop_mse: float = 0.0  # extra MSE over drop pixels only
    dry_l1: float = 0.0  # mean |output - clean| away from drops: a steady shift of dry glass costs what it shows
    # MSE of the fine detail (each channel minus its 2 px Gaussian blur) over drop pixels: pays for detail a
    # translucent drop flattened, which the pixel MSE weighs little beside the drop's brightening
    drop_detail: float = 0.0
    # the restoration losses also train the map through the gate (a gated model), so it opens
    # where a change helps; off, only the attention loss sets the gate
    gate_gradient: bool = False
    perceptual: float = 1.0
    perceptual_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu1_2", "relu2_1", "relu2_2"])
    vgg_weights: str = ""  # torchvision vgg16 state dict; "" turns the perceptual loss off
    gan: float = 0.01  # 0 turns the discriminator off
    gamma: float = 0.05  # discriminator's attention-map loss
    gan_start: int = 0  # the discriminator and the adversarial term start at this step


@dataclass
class OptimOptions:
    lr: float = 1e-4
    d_lr: float = 0.0  # 0 = lr
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    warmup: int = 0  # linear warm-up steps
    decay: str = "none"  # "none", "cosine" (to min_lr_ratio * lr) or "step"
    min_lr_ratio: float = 0.0
    milestones: list[int] = field(default_factory=list)  # "step": multiply by decay_gamma at each
    decay_gamma: float = 0.1
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    arn_pretrain: int = 0  # first steps train the attentive-recurrent net on masks alone
    arn_lr: float = 0.0  # LR of those ARN-only steps (0 = lr): finding drops wants a faster start


@dataclass
class RunOptions:
    steps: int = 1000
    seed: int = 0
    out: str = "runs/train"
    device: str = "auto"
    amp: bool = True  # mixed precision, on CUDA only
    arn_amp: bool = True  # with amp, the ARN-only steps too; false keeps them in float32 (docs/TRAINING.md: a GPU seed's ARN stalled)
    ckpt_every: int = 500
    val_every: int = 500  # 0 = no validation
    keep_every_val: bool = False  # also write val-STEP.pt at each validation: a run's course, to score on other sets
    log_every: int = 10
    tensorboard: bool = True  # when installed
    progress: bool = True
    stop_at: int = 0  # stop (with a checkpoint) after this step, to resume later; 0 = run to the end
    init: str = ""  # start from these generator weights (a preset's shipped weights or a checkpoint): fine-tuning


@dataclass
class TrainConfig:
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "lite"})  # preset + overrides
    data: DataOptions = field(default_factory=DataOptions)
    loss: LossOptions = field(default_factory=LossOptions)
    optim: OptimOptions = field(default_factory=OptimOptions)
    run: RunOptions = field(default_factory=RunOptions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def model_config(self) -> ModelConfig:
        """The preset's config with this recipe's overrides (e.g. `steps`, the ARN's N)."""
        options = dict(self.model)
        preset = options.pop("preset", "lite")
        if preset not in PRESETS:
            raise DerainError(f"unknown model preset {preset!r}; choose from {', '.join(PRESETS)}")
        try:
            return ModelConfig.from_dict({**PRESETS[preset].to_dict(), **options})
        except (TypeError, ValueError) as error:
            raise DerainError(f"bad [model] options: {error}") from None


SECTIONS = {"data": DataOptions, "loss": LossOptions, "optim": OptimOptions, "run": RunOptions}
CHOICES = {("loss", "mask_loss"): ("mse", "bce"), ("optim", "decay"): ("none", "cosine", "step"), ("data", "source"): ("render", "pairs")}
# Options that may change when a run is resumed; any other change would make a different run.
RESUMABLE_CHANGES = {"run.steps", "run.stop_at", "run.device", "run.ckpt_every", "run.val_every", "run.keep_every_val", "run.log_every", "run.tensorboard", "run.progress", "data.workers"}
# Options the ARN-only steps never read: while a run is still in that phase (under both the old
# and the new optim.arn_pretrain), changing them gives the run it would have been from step 0.
ARN_PHASE_UNREAD = {f"loss.{key}" for key in ("multiscale", "drop_mse", "dry_l1", "drop_detail", "perceptual", "perceptual_layers", "vgg_weights", "gan", "gamma", "gan_start")} | {"optim.arn_pretrain"}


def _coerce(section: str, key: str, value: Any, kind: Any) -> Any:
    name = f"{section}.{key}"
    if kind is bool:
        if not isinstance(value, bool):
            raise DerainError(f"{name} must be true or false, not {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DerainError(f"{name} must be an integer, not {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DerainError(f"{name} must be a number, not {value!r}")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise DerainError(f"{name} must be a string, not {value!r}")
    elif not isinstance(value, list):
        raise DerainError(f"{name} must be a list, not {value!r}")
    choices = CHOICES.get((section, key))
    if choices and value not in choices:
        raise DerainError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """A config from nested tables, checking every key and type; missing keys keep defaults."""
    unknown = sorted(set(data) - set(SECTIONS) - {"model"})
    if unknown:
        raise DerainError(f"unknown recipe tables: {', '.join(unknown)} (known: model, {', '.join(SECTIONS)})")
    config = TrainConfig()
    if "model" in data:
        config.model = {"preset": "lite", **dict(data["model"])}
    for section, options_class in SECTIONS.items():
        table = dict(data.get(section, {}))
        types = get_type_hints(options_class)
        bad = sorted(set(table) - set(types))
        if bad:
            raise DerainError(f"unknown option(s) in [{section}]: {', '.join(bad)}")
        resolved = {key: _coerce(section, key, value, types[key]) for key, value in table.items()}
        setattr(config, section, replace(getattr(config, section), **resolved))
    for name in ("veil", "blur_sigma", "haze", "rim", "highlight"):
        if len(getattr(config.data, name)) != 2:
            raise DerainError(f"data.{name} needs two numbers: LOW, HIGH")
    for name in ("veil_level", "sensor_noise", "scene_light", "scene_bokeh", "scene_defocus", "see_through", "see_through_radius"):
        if len(getattr(config.data, name)) not in (0, 2):
            raise DerainError(f"data.{name} needs two numbers, LOW, HIGH, or none")
    if config.loss.drop_detail < 0:
        raise DerainError(f"loss.drop_detail must be 0 or more, not {config.loss.drop_detail}")
    if config.loss.mask_pos_weight <= 0:
        raise DerainError(f"loss.mask_pos_weight must be above 0, not {config.loss.mask_pos_weight}")
    if not 0 <= config.data.dry_fraction < 1:
        raise DerainError(f"data.dry_fraction must be in [0, 1), not {config.data.dry_fraction}")
    if not 0 <= config.data.second_pass <= 1:
        raise DerainError(f"data.second_pass must be in [0, 1], not {config.data.second_pass}")
    if len(config.loss.multiscale) != 3:
        raise DerainError("loss.multiscale needs three weights (1/4, 1/2 and full scale)")
    model = config.model_config()  # fail now, not after data loading, on a bad model table
    if config.loss.gate_gradient and not model.gate:
        raise DerainError("loss.gate_gradient needs a gated model (model.gate = true)")
    return config


def read_recipe(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DerainError(f"recipe {path} not found")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise DerainError("YAML recipes need PyYAML (pip install pyyaml); TOML needs nothing") from None
        data = yaml.safe_load(text) or {}
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise DerainError(f"recipe {path}: {error}") from None
    if not isinstance(data, dict):
        raise DerainError(f"recipe {path} must hold tables of options")
    return data


def with_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `table.key=value` strings (values in TOML syntax; bare words are strings)."""
    merged = {table: dict(values) for table, values in data.items()}
    for override in overrides:
        name, sep, raw = override.partition("=")
        table, dot, key = name.strip().partition(".")
        if not sep or not dot or not key:
            raise DerainError(f"--set wants table.key=value (e.g. loss.gan=0.02), not {override!r}")
        try:
            value = tomllib.loads(f"value = {raw.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        merged.setdefault(table, {})[key] = value
    return merged


def load_config(
    recipe: Path | None = None,
    overrides: list[str] | None = None,
    values: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> TrainConfig:
    """The recipe (or `base`, e.g. a resumed run's saved options), then `--set` strings, then
    typed `values` ({"run.steps": 100}; None values are skipped): later ones win."""
    data = read_recipe(recipe) if recipe else dict(base or {})
    data = with_overrides(data, overrides or [])
    for name, value in (values or {}).items():
        if value is not None:
            table, _, key = name.partition(".")
            data.setdefault(table, {})[key] = value
    return config_from_dict(data)


def changed_options(old: TrainConfig, new: TrainConfig, step: int = 0) -> list[str]:
    """`table.key` of every option that differs, except those a resume at `step` may change."""
    allowed = set(RESUMABLE_CHANGES)
    if step <= min(old.optim.arn_pretrain, new.optim.arn_pretrain):
        allowed |= ARN_PHASE_UNREAD
    a, b = old.to_dict(), new.to_dict()
    changed = []
    for table in a:
        for key in set(a[table]) | set(b[table]):
            if a[table].get(key) != b[table].get(key) and f"{table}.{key}" not in allowed:
                changed.append(f"{table}.{key}")
    return sorted(changed)
