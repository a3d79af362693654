"""Model configuration: everything needed to rebuild a generator, saved with its weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a two-stage generator (attentive-recurrent net + autoencoder).

    The network sees `channel_order` images as float in `value_range`, padded (reflect) to a
    multiple of `pad_multiple`.
    """

    preset: str
    # attentive-recurrent network
    arn_channels: int = 32
    arn_blocks: int = 5
    steps: int = 4
    arn_scale: int = 1  # the ARN runs at 1/arn_scale of the input resolution
    arn_dilation: int = 1  # its residual blocks' convs look this many pixels apart: a wider view, the same weights and MACs
    # contextual autoencoder
    ae_channels: tuple[int, int, int] = (64, 128, 256)
    ae_first_kernel: int = 5
    ae_convs_before_dilation: int = 2
    ae_dilations: tuple[int, ...] = (2, 4, 8, 16)
    ae_convs_after_dilation: int = 2
    residual: bool = False  # predict y = x + delta, with delta's last layer starting at zero
    # With `residual`: y = x + sigmoid(mask) * delta, so pixels the attention map calls dry stay
    # as they are. It reads the map as logits (a map trained with BCE).
    gate: bool = False
    # With coarse_scale > 0: a branch at 1/coarse_scale of the frame adds a smooth gain and offset
    # everywhere, which the gate alone cannot (the veil of wet glass; models/coarse.py).
    coarse_scale: int = 0
    coarse_channels: int = 16
    # With fine_scale > 0: a second such branch in finer cells, which mends the drops themselves
    # while the coarser one lifts the veil (docs/TRAINING.md, run 27); their changes add up.
    fine_scale: int = 0
    # With map_zoom in (0, 1): the ARN also reads the frame downscaled by this factor, and each
    # map is the per-pixel maximum of the two (models/zoom.py): large soft drops fill in.
    map_zoom: float = 0.0
    # With detail_gain: the decoder also predicts a gain on the frame's fine detail, applied
    # without the gate, which a translucent drop needs to give back the scene it dims
    # (models/detail.py). It needs `residual`.
    detail_gain: bool = False
    # data contract
    channel_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)
    pad_multiple: int = 4
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.gate and not self.residual:
            raise ValueError("a gated output needs residual=True")
        for name in ("coarse_scale", "fine_scale"):
            scale = getattr(self, name)
            if scale < 0 or (scale and self.pad_multiple % scale):
                raise ValueError(f"{name} must divide pad_multiple, so the branch's grid fits the padded frame")
        if self.detail_gain and not self.residual:
            raise ValueError("a detail gain needs residual=True")
        if self.arn_dilation < 1:
            raise ValueError(f"arn_dilation must be 1 or more, got {self.arn_dilation}")
        if not 0 <= self.map_zoom < 1:
            raise ValueError(f"map_zoom must be 0 (off) or a factor in (0, 1), got {self.map_zoom}")

    def to_dict(self) -> dict:
        data = asdict(self)
        # Options added after models shipped are left out while off, so that a model's digest
        # (its config and weights: checkpoint.model_sha256) stays what its card says.
        for name, off in _ADDED_OFF.items():
            if data[name] == off:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        values = dict(data)
        for key in ("ae_channels", "ae_dilations", "value_range"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


_ADDED_OFF = {"coarse_scale": 0, "coarse_channels": 16, "fine_scale": 0, "map_zoom": 0.0, "arn_dilation": 1, "detail_gain": False}

# The official DeRaindrop generator (Qian et al., CVPR 2018), layer for layer.
FULL = ModelConfig(preset="full")

# A real-time generator of the same two-stage shape: the ARN runs at half resolution with 16
# channels, and a slimmer autoencoder predicts a residual, gated by the attention map so that a
# frame changes only where drops are. About 1/14 of full's MACs per pixel.
LITE = ModelConfig(
    preset="lite",
    arn_channels=16,
    arn_blocks=2,
    steps=4,
    arn_scale=2,
    ae_channels=(24, 48, 96),
    ae_first_kernel=3,
    ae_convs_before_dilation=1,
    ae_dilations=(2, 4, 8),
    ae_convs_after_dilation=1,
    residual=True,
    gate=True,
    pad_multiple=8,
)

PRESETS: dict[str, ModelConfig] = {"full": FULL, "lite": LITE}
