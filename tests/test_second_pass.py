"""Second-pass batches: the model's own output as input, the drops' remnants as the map's target."""

from __future__ import annotations

import numpy as np
import torch

from stream_derain.models import Generator
from stream_derain.synth.mask import local_difference
from train.config import config_from_dict
from train.second_pass import remnant_target, second_pass_batch, second_pass_step
from train.trainer import train
from tests.test_trainer import TINY_MODEL, TinyDrops, records, tiny_config


def test_the_remnant_target_keeps_only_drops_still_brighter_than_the_threshold():
    clean = torch.full((1, 3, 24, 24), 0.4)
    mask = torch.zeros(1, 1, 24, 24)
    mask[..., 2:12, 2:12] = 1  # a drop left 40 levels bright
    mask[..., 14:22, 14:22] = 1  # a drop mended to within 10 levels
    first = clean.clone()
    first[..., 2:12, 2:12] += 40 / 255
    first[..., 14:22, 14:22] += 10 / 255
    first[..., 0, 20:] += 60 / 255  # a change away from the drops is no drop
    target = remnant_target(first, clean, mask, threshold=20)
    assert target[..., 4:10, 4:10].eq(1).all()
    assert target[..., 14:22, 14:22].eq(0).all()
    assert target.sum() <= mask[..., 2:12, 2:12].sum()
    assert remnant_target(clean, clean, mask, threshold=20).eq(0).all()


def test_the_remnant_target_is_drawn_as_the_renderer_draws_its_target():
    rng = np.random.default_rng(3)
    clean = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    # differences near the threshold, so that the frame's border (reflected, as cv2.blur does) decides some pixels
    first = np.clip(clean.astype(int) + rng.integers(-28, 29, clean.shape), 0, 255).astype(np.uint8)
    first[:5, :5] = clean[:5, :5]  # unchanged pixels are never a target, whatever their neighbours
    mask = rng.random((20, 24)) < 0.7
    expected = mask & (local_difference(first, clean) > 20) & (np.abs(first.astype(int) - clean).max(2) > 0)

    def as_tensor(image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255

    target = remnant_target(as_tensor(first), as_tensor(clean), torch.from_numpy(mask)[None, None], threshold=20)
    assert np.array_equal(target[0, 0].numpy() > 0.5, expected)


def test_second_pass_steps_are_a_seeded_share_that_every_rank_agrees_on():
    draws = [second_pass_step(5, step, 0.3) for step in range(2000)]
    assert draws == [second_pass_step(5, step, 0.3) for step in range(2000)]
    assert 0.25 < sum(draws) / len(draws) < 0.35
    assert draws != [second_pass_step(6, step, 0.3) for step in range(2000)]
    assert not any(second_pass_step(5, step, 0.0) for step in range(200))


def test_a_second_pass_batch_is_the_models_output_and_leaves_the_model_untouched():
    torch.manual_seed(0)
    generator = Generator(config_from_dict({"model": TINY_MODEL}).model_config())
    item = TinyDrops(1, size=16)[0]
    rain, clean, mask = (item[key].unsqueeze(0) for key in ("rain", "clean", "mask"))
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    first, target = second_pass_batch(generator, rain, clean, mask, threshold=20, amp=False)
    with torch.no_grad():
        assert torch.equal(first, generator(rain).output.clamp(0, 1))
    assert torch.equal(target, remnant_target(first, clean, mask, 20))
    assert not first.requires_grad
    assert all(torch.equal(before[name], value) for name, value in generator.state_dict().items())


def test_a_run_with_second_pass_batches_resumes_exactly_and_differs_from_one_without(tmp_path):
    def run(out, **options):
        config = tiny_config(out, **options)
        config.data.second_pass = 0.5
        return train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))

    run(tmp_path / "straight")
    run(tmp_path / "stopped", stop_at=3)
    config = tiny_config(tmp_path / "stopped")
    config.data.second_pass = 0.5
    train(config, resume=True, train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    assert records(tmp_path / "stopped") == records(tmp_path / "straight")

    train(tiny_config(tmp_path / "plain"), train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    seed, joint = config.run.seed, range(config.optim.arn_pretrain, config.run.steps)
    drawn = [step for step in joint if second_pass_step(seed, step, 0.5)]
    assert min(drawn) < 3 <= max(drawn)  # second passes both before and after the stop
    assert records(tmp_path / "plain") != records(tmp_path / "straight")


def test_the_scripts_second_pass_runs_the_model_on_its_own_output():
    from scripts.repeated import Repeated, repeated

    torch.manual_seed(1)
    generator = Generator(config_from_dict({"model": TINY_MODEL}).model_config()).eval()
    x = TinyDrops(1, size=16)[0]["rain"].unsqueeze(0)
    with torch.no_grad():
        expected = generator(generator(x).output.clamp(0, 1)).output
        assert torch.equal(Repeated(generator, 2)(x).output, expected)
    assert repeated(lambda value: value * 2, 3)(1) == 8
