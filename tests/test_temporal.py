"""Attention-reuse policies: which frames get a full ARN pass, and what the others reuse."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from stream_derain import Derainer
from stream_derain.backends.torch_runner import TorchRunner
from stream_derain.checkpoint import LoadedModel
from stream_derain.errors import DerainError
from conftest import TINY_LITE_CONFIG
from stream_derain.models import build_generator
from stream_derain.temporal import (
    AdaptivePolicy,
    KeyframePolicy,
    NonePolicy,
    RecurrentPolicy,
    full_pass,
    parse_policy,
)

TINY = TINY_LITE_CONFIG


class CountingRunner(TorchRunner):
    """A real runner that records the batch size of every ARN step."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__(build_generator(TINY))
        self.steps: list[int] = []

    def attend_step(self, x, state):
        self.steps.append(len(x))
        return super().attend_step(x, state)


@pytest.fixture
def runner() -> CountingRunner:
    return CountingRunner()


def frames(count: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, 16, 24, generator=torch.Generator().manual_seed(seed))


def reference_mask(runner: TorchRunner, frame: torch.Tensor) -> torch.Tensor:
    return runner.generator.attend(frame.unsqueeze(0))[-1][0]


def test_parse_policy() -> None:
    assert isinstance(parse_policy("none"), NonePolicy)
    assert parse_policy("keyframe:5").spec == "keyframe:5"
    assert parse_policy("keyframe").spec == "keyframe:4"
    assert parse_policy("recurrent").spec == "recurrent:1"
    assert parse_policy("RECURRENT:3").spec == "recurrent:3"
    assert parse_policy("adaptive").spec == "adaptive:8:0.12"
    assert parse_policy("adaptive:12:0.1").spec == "adaptive:12:0.1"
    for bad in ("sometimes", "keyframe:0", "keyframe:x", "none:2", "recurrent:1:2", "adaptive:4:-1", ""):
        with pytest.raises(DerainError, match="reuse policy"):
            parse_policy(bad)


def test_none_runs_the_papers_full_pass_on_every_frame(runner: CountingRunner) -> None:
    x = frames(3)
    masks = NonePolicy().masks(x, runner)
    assert runner.steps == [3] * TINY.steps
    for mask, frame in zip(masks, x):
        torch.testing.assert_close(mask, reference_mask(runner, frame))


def test_keyframe_refreshes_every_k_frames_across_batches(runner: CountingRunner) -> None:
    x = frames(8)
    policy = KeyframePolicy(3)
    masks = torch.cat([policy.masks(x[:4], runner), policy.masks(x[4:], runner)])
    # keys 0 and 3 share one batched pass, then key 6 alone
    assert runner.steps == [2] * TINY.steps + [1] * TINY.steps
    for key, followers in ((0, (1, 2)), (3, (4, 5)), (6, (7,))):
        torch.testing.assert_close(masks[key], reference_mask(runner, x[key]), atol=1e-5, rtol=1e-4)
        for i in followers:
            assert torch.equal(masks[i], masks[key])
    assert not torch.equal(masks[0], masks[3])
    policy.reset()
    runner.steps.clear()
    policy.masks(x[5:6], runner)  # after a reset the next frame is a key frame
    assert runner.steps == [1] * TINY.steps


def test_recurrent_carries_state_and_refines_m_steps(runner: CountingRunner) -> None:
    x = frames(4)
    policy = RecurrentPolicy(2)
    masks = torch.cat([policy.masks(x[:3], runner), policy.masks(x[3:], runner)])
    assert runner.steps == [1] * (TINY.steps + 2 * 3)
    state = full_pass(x[:1], runner)
    expected = [state.mask]
    for i in range(1, 4):
        for _ in range(2):
            state = runner.attend_step(x[i : i + 1], state)
        expected.append(state.mask)
    torch.testing.assert_close(masks, torch.cat(expected))


def test_adaptive_refreshes_on_a_cut_and_at_its_ceiling(runner: CountingRunner) -> None:
    still = frames(1).repeat(7, 1, 1, 1)
    policy = AdaptivePolicy(ceiling=3, threshold=0.05)
    masks = policy.masks(still, runner)
    assert runner.steps == [3] * TINY.steps  # keys 0, 3, 6 in one pass
    assert torch.equal(masks[1], masks[0]) and torch.equal(masks[4], masks[3])

    runner.steps.clear()
    policy.reset()
    scene = frames(5, seed=1)
    scene[:2] = frames(1)
    scene[2:] = frames(1, seed=2)  # a cut at frame 2
    masks = policy.masks(scene, runner)
    assert runner.steps == [2] * TINY.steps  # keys 0 and 2 only: the ceiling is not reached
    assert torch.equal(masks[1], masks[0]) and torch.equal(masks[4], masks[2])
    assert not torch.equal(masks[2], masks[0])


@pytest.mark.parametrize("policy", [KeyframePolicy(4), RecurrentPolicy(1), AdaptivePolicy(8)])
def test_a_new_frame_size_starts_over(runner: CountingRunner, policy) -> None:
    policy.masks(frames(2), runner)
    runner.steps.clear()
    other = torch.rand(1, 3, 24, 32)
    masks = policy.masks(other, runner)
    assert runner.steps == [1] * TINY.steps
    assert masks.shape == (1, 1, 24, 32)


def test_a_zoomed_map_reaches_every_policy_as_the_model_computes_it() -> None:
    torch.manual_seed(6)
    runner = TorchRunner(build_generator(dataclasses.replace(TINY, map_zoom=0.5)).eval())
    batch = torch.rand(3, 3, 24, 40, generator=torch.Generator().manual_seed(1))
    expected = torch.cat([reference_mask(runner, frame) for frame in batch])
    torch.testing.assert_close(full_pass(batch, runner).mask[:, 0], expected)
    torch.testing.assert_close(NonePolicy().masks(batch, runner)[:, 0], expected)
    keyed = KeyframePolicy(2).masks(batch, runner)
    torch.testing.assert_close(keyed[:, 0], expected[[0, 0, 2]])  # frame 1 reuses frame 0's merged map


def test_a_zoomed_model_derains_an_odd_sized_image() -> None:
    torch.manual_seed(7)
    model = LoadedModel(build_generator(dataclasses.replace(TINY, map_zoom=0.5)).eval(), {}, "tiny zoomed", trained=False)
    image = (np.random.default_rng(2).random((37, 53, 3)) * 255).astype(np.uint8)
    result = Derainer(model=model, device="cpu", backend="torch").derain(image)
    assert result.image.shape == image.shape and result.mask.shape == (37, 53)
