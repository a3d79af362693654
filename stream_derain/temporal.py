"""Attention reuse across video frames: how many ARN steps each frame gets, and from what state.

Drops stuck to the glass move with the camera, not the scene, so their attention map changes
slowly and most frames can reuse or refine the last one. A policy takes a padded batch of
consecutive frames and the Runner, and returns one mask per frame. Policies carry state from
batch to batch; `reset()` forgets it (a new video, a reconnected stream, a new frame size).
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from .backends.base import AttentionState, Runner
from .errors import DerainError
from .models.zoom import merge_maps, zoomed_frame

DEFAULT_POLICY = "keyframe:6"


class Policy(Protocol):
    spec: str

    def masks(self, x: torch.Tensor, runner: Runner) -> torch.Tensor: ...

    def reset(self) -> None: ...


def full_pass(x: torch.Tensor, runner: Runner) -> AttentionState:
    """The paper's ARN: `config.steps` steps from the starting state (with `config.map_zoom`, the
    mask merged with the small frame's, as Generator.attend does; h and c stay the full frame's)."""
    state = _steps_from_start(x, runner)
    zoom = runner.config.map_zoom
    if not zoom:
        return state
    small, size = zoomed_frame(x, zoom, runner.config.pad_multiple)
    return state._replace(mask=merge_maps(state.mask, _steps_from_start(small, runner).mask, size))


def _steps_from_start(x: torch.Tensor, runner: Runner) -> AttentionState:
    state = runner.init_state(x)
    for _ in range(runner.config.steps):
        state = runner.attend_step(x, state)
    return state


class NonePolicy:
    """No reuse: every frame gets a full ARN pass, exactly as in the paper."""

    spec = "none"

    def masks(self, x: torch.Tensor, runner: Runner) -> torch.Tensor:
        return full_pass(x, runner).mask

    def reset(self) -> None:
        pass


class _KeyMaskPolicy:
    """Shared by keyframe and adaptive: key frames get a full pass, others reuse the last key's mask."""

    def __init__(self) -> None:
        self._mask: torch.Tensor | None = None  # (1, 1, H, W): the last key frame's mask

    def reset(self) -> None:
        self._mask = None

    def _is_key(self, x: torch.Tensor) -> list[bool]:
        raise NotImplementedError

    def masks(self, x: torch.Tensor, runner: Runner) -> torch.Tensor:
        if self._mask is not None and self._mask.shape[-2:] != x.shape[-2:]:
            self.reset()
        is_key = self._is_key(x)
        keys = [i for i, key in enumerate(is_key) if key]
        # all key frames of the batch in one batched pass
        key_masks = iter(full_pass(x[keys], runner).mask.split(1)) if keys else iter(())
        out = []
        for key in is_key:
            if key:
                self._mask = next(key_masks)
            out.append(self._mask)
        return torch.cat(out)


class KeyframePolicy(_KeyMaskPolicy):
    """A full ARN pass every `interval` frames; the frames between reuse its mask."""

    def __init__(self, interval: int) -> None:
        super().__init__()
        self.interval = interval
        self.spec = f"keyframe:{interval}"
        self._count = 0

    def reset(self) -> None:
        super().reset()
        self._count = 0

    def _is_key(self, x: torch.Tensor) -> list[bool]:
        is_key = [(self._count + i) % self.interval == 0 for i in range(len(x))]
        self._count += len(x)
        return is_key


class AdaptivePolicy(_KeyMaskPolicy):
    """Refresh when the picture has changed past `threshold` since the last key frame (a scene
    cut, a pan, a wiper), and at least every `ceiling` frames.

    Change is the mean absolute difference of 32x32 grey thumbnails, in [0, 1] units. The
    default sits at scene-cut level: 0.03 and 0.08 refreshed on nearly every frame of a moving
    camera, whose drops (and so whose mask) had not changed (docs/TEMPORAL.md).
    """

    def __init__(self, ceiling: int = 8, threshold: float = 0.12) -> None:
        super().__init__()
        self.ceiling = ceiling
        self.threshold = threshold
        self.spec = f"adaptive:{ceiling}:{threshold:g}"
        self._key_thumb: torch.Tensor | None = None
        self._since_key = 0

    def reset(self) -> None:
        super().reset()
        self._key_thumb = None
        self._since_key = 0

    def _is_key(self, x: torch.Tensor) -> list[bool]:
        if self._mask is None:
            self._key_thumb = None
        # one small copy to the host instead of a device sync per frame
        thumbs = F.adaptive_avg_pool2d(x.float().mean(1, keepdim=True), 32).cpu()
        is_key = []
        for thumb in thumbs:
            key = (
                self._key_thumb is None
                or self._since_key >= self.ceiling
                or (thumb - self._key_thumb).abs().mean().item() > self.threshold
            )
            if key:
                self._key_thumb, self._since_key = thumb, 0
            self._since_key += 1
            is_key.append(key)
        return is_key


class RecurrentPolicy:
    """The ARN state (mask, h, c) carries to the next frame, which gets `steps` refinement steps.

    The first frame (and the first after a reset) gets a full pass from the starting state.
    Frames depend on each other, so the ARN runs one frame at a time; restore stays batched.
    """

    def __init__(self, steps: int = 1) -> None:
        self.steps = steps
        self.spec = f"recurrent:{steps}"
        self._state: AttentionState | None = None

    def reset(self) -> None:
        self._state = None

    def masks(self, x: torch.Tensor, runner: Runner) -> torch.Tensor:
        if self._state is not None and self._state.mask.shape[-2:] != x.shape[-2:]:
            self.reset()
        out = []
        for frame in x.split(1):
            if self._state is None:
                self._state = full_pass(frame, runner)
            else:
                for _ in range(self.steps):
                    self._state = runner.attend_step(frame, self._state)
            out.append(self._state.mask)
        return torch.cat(out)


def parse_policy(spec: str) -> Policy:
    """`none`, `keyframe:K`, `recurrent[:M]`, `adaptive[:K[:threshold]]`."""
    name, _, args = spec.strip().lower().partition(":")
    values = args.split(":") if args else []
    try:
        if name == "none" and not values:
            return NonePolicy()
        if name == "keyframe" and len(values) <= 1:
            return KeyframePolicy(_positive_int(values[0] if values else "4"))
        if name == "recurrent" and len(values) <= 1:
            return RecurrentPolicy(_positive_int(values[0] if values else "1"))
        if name == "adaptive" and len(values) <= 2:
            ceiling = _positive_int(values[0]) if values else 8
            threshold = float(values[1]) if len(values) > 1 else 0.12
            if not threshold > 0:
                raise ValueError
            return AdaptivePolicy(ceiling, threshold)
    except ValueError:
        pass
    raise DerainError(
        f"bad reuse policy {spec!r}: use none, keyframe:K, recurrent:M or adaptive[:K[:threshold]]"
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value
