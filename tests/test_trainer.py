"""The trainer on CPU at a tiny size: exact resume, exported checkpoints, logs and options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from stream_derain.checkpoint import load_checkpoint, save_checkpoint
from stream_derain.errors import DerainError
from stream_derain.models import Generator
from train.config import OptimOptions, config_from_dict, load_config
from train.trainer import STATE_FILE, SeededItems, StreamBatches, lr_factor, train

TINY_MODEL = {
    "preset": "lite", "arn_channels": 4, "arn_blocks": 1, "steps": 2, "arn_scale": 1,
    "ae_channels": [4, 8, 8], "ae_first_kernel": 3, "ae_convs_before_dilation": 0,
    "ae_dilations": [2], "ae_convs_after_dilation": 0, "pad_multiple": 4,
}


class TinyDrops(Dataset):
    """Smooth random scenes with bright discs for drops, drawn from the global torch RNG."""

    def __init__(self, length: int = 16, size: int = 32):
        self.length, self.size = length, size

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clean = F.interpolate(torch.rand(1, 3, 4, 4), size=(self.size, self.size), mode="bilinear")[0]
        yy, xx = torch.meshgrid(torch.arange(self.size), torch.arange(self.size), indexing="ij")
        mask = torch.zeros(1, self.size, self.size)
        for _ in range(int(torch.randint(1, 4, ()))):
            cy, cx, r = torch.randint(0, self.size, (2,)).tolist() + [int(torch.randint(2, 6, ()))]
            mask[0][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1.0
        rain = clean * (1 - mask) + mask * (0.5 + 0.5 * clean.mean(0, keepdim=True))
        return {"rain": rain, "clean": clean, "mask": mask}


def tiny_config(out, **run):
    """Six steps that pass through every phase: ARN pretraining, then G alone, then the GAN."""
    recipe = {
        "model": TINY_MODEL,
        "data": {"batch_size": 2, "min_drop_coverage": 0.02},
        "loss": {"gan": 0.01, "gan_start": 5, "drop_mse": 1.0, "mask_loss": "bce"},
        "optim": {"lr": 1e-3, "warmup": 2, "decay": "cosine", "grad_clip": 1.0, "arn_pretrain": 1},
        "run": {"out": str(out), "steps": 6, "ckpt_every": 3, "val_every": 3, "log_every": 1,
                "progress": False, "tensorboard": False, **run},
    }
    return config_from_dict(recipe)


def records(out):
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("time", None)
    return lines


def test_stopped_and_resumed_run_matches_a_straight_run(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train(tiny_config(straight), train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    first = train(tiny_config(stopped, stop_at=3), train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    assert first["step"] == 3 and not (stopped / "final.pt").exists()
    train(tiny_config(stopped), resume=True, train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))

    expected = records(straight)
    assert [r["step"] for r in expected if "total" in r] == [1, 2, 3, 4, 5, 6]
    assert {"att", "ms", "drop", "gan", "d_adv", "d_map"} <= set(expected[-2])  # the GAN ran
    assert records(stopped) == expected
    a = torch.load(straight / STATE_FILE, weights_only=True)
    b = torch.load(stopped / STATE_FILE, weights_only=True)
    for part in ("generator", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    assert a["step"] == b["step"] == 6 and a["samples_seen"] == 12

    # the shippable generator-only files load safely, with the run's metadata
    best = load_checkpoint(straight / "best.pt")
    meta = best.metadata
    assert meta["recipe"]["model"] == TINY_MODEL and meta["steps"] in (3, 6)
    assert set(meta["val"]) >= {"psnr", "ssim", "identity_psnr", "identity_ssim"}
    assert meta["hardware"]["device"] == "cpu" and meta["wall_time_s"] > 0
    assert meta["mask_activation"] == "sigmoid"
    final = load_checkpoint(straight / "final.pt").generator.state_dict()
    assert all(torch.equal(final[k], a["generator"][k]) for k in final)


def test_a_stopped_runs_weights_can_be_written_as_a_model_file(tmp_path):
    from scripts.state_weights import state_weights

    train(tiny_config(tmp_path / "run", stop_at=3), train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    state_weights(tmp_path / "run", tmp_path / "step3.pt")
    loaded = load_checkpoint(tmp_path / "step3.pt")
    saved = torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)["generator"]
    assert loaded.metadata["steps"] == 3 and loaded.metadata["mask_activation"] == "sigmoid"
    assert all(torch.equal(value, saved[name]) for name, value in loaded.generator.state_dict().items())


def test_a_run_can_keep_the_weights_of_every_validation(tmp_path):
    train(tiny_config(tmp_path, keep_every_val=True), train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    kept = sorted(path.name for path in tmp_path.glob("val-*.pt"))
    assert kept == ["val-3.pt", "val-6.pt"]
    assert load_checkpoint(tmp_path / "val-3.pt").metadata["steps"] == 3
    final = load_checkpoint(tmp_path / "final.pt").generator.state_dict()
    last = load_checkpoint(tmp_path / "val-6.pt").generator.state_dict()
    assert all(torch.equal(final[k], last[k]) for k in final)


def test_resume_refuses_a_changed_recipe_and_a_run_is_never_overwritten(tmp_path):
    config = tiny_config(tmp_path, steps=1, val_every=0, ckpt_every=1)
    train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))
    with pytest.raises(DerainError, match="already holds a run"):
        train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))
    changed = tiny_config(tmp_path, steps=2, val_every=0, ckpt_every=1)
    changed.optim.lr = 5e-4
    with pytest.raises(DerainError, match="optim.lr"):
        train(changed, resume=True, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))
    with pytest.raises(DerainError, match="nothing to resume"):
        train(tiny_config(tmp_path / "empty"), resume=True, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))


def test_joint_phase_losses_may_change_while_the_run_is_still_arn_only(tmp_path):
    """A run resumed with a new joint-phase loss during its ARN-only steps is the run that
    recipe gives from step 0; once the joint phase has begun, the change is refused."""
    def config(out, **run):
        recipe = tiny_config(out, **run)
        recipe.optim.arn_pretrain = 2
        return recipe

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    with_dry = config(straight)
    with_dry.loss.dry_l1 = 1.0
    train(with_dry, train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    train(config(resumed, stop_at=2), train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    changed = config(resumed)
    changed.loss.dry_l1 = 1.0
    train(changed, resume=True, train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    assert "dry" in records(straight)[-2]
    assert records(resumed) == records(straight)

    changed.loss.dry_l1 = 3.0  # at step 6 the joint phase has run: a different run
    changed.run.steps = 8
    with pytest.raises(DerainError, match="loss.dry_l1"):
        train(changed, resume=True, train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))


def test_a_run_can_start_from_trained_weights(tmp_path, untrained_presets):
    config = tiny_config(tmp_path / "run", steps=1, val_every=0)
    torch.manual_seed(123)
    trained = Generator(config.model_config())
    save_checkpoint(tmp_path / "trained.pt", trained, {})
    config.run.init = str(tmp_path / "trained.pt")
    config.optim.lr = 0.0  # one step that changes nothing: what remains is where the run started
    generator = train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))["generator"]
    assert all(torch.equal(a, b) for a, b in zip(generator.state_dict().values(), trained.state_dict().values()))

    other = tiny_config(tmp_path / "other", steps=1, val_every=0)
    other.model["ae_channels"] = [4, 8, 16]
    other.run.init = str(tmp_path / "trained.pt")
    with pytest.raises(DerainError, match="unlike the recipe"):
        train(other, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))
    untrained = tiny_config(tmp_path / "untrained", steps=1, val_every=0)
    untrained.run.init = "lite"  # the fixture hides the shipped weights
    with pytest.raises(DerainError, match="no trained weights"):
        train(untrained, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))


def test_gate_gradient_reaches_the_model_being_trained(tmp_path):
    for gate_gradient in (False, True):
        config = tiny_config(tmp_path / f"run-{gate_gradient}", steps=1, val_every=0)
        config.model["gate"], config.model["residual"] = True, True
        config.loss.gate_gradient = gate_gradient
        generator = train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))["generator"]
        assert generator.autoencoder.gate_gradient is gate_gradient
    with pytest.raises(DerainError, match="needs a gated model"):
        config_from_dict({"model": {"preset": "full"}, "loss": {"gate_gradient": True}})


def test_a_run_can_add_a_coarse_branch_to_trained_weights(tmp_path, untrained_presets):
    torch.manual_seed(7)
    trained = Generator(tiny_config(tmp_path / "base").model_config())
    save_checkpoint(tmp_path / "trained.pt", trained, {})
    config = tiny_config(tmp_path / "run", steps=1, val_every=0)
    config.model.update(coarse_scale=4, coarse_channels=4)
    config.run.init = str(tmp_path / "trained.pt")
    config.optim.lr = 0.0
    generator = train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))["generator"]
    state = generator.state_dict()
    for name, tensor in trained.state_dict().items():
        assert torch.equal(state[name], tensor)
    assert not state["autoencoder.coarse.head.weight"].any()  # the new branch starts at zero


def test_a_run_can_add_a_detail_gain_to_trained_weights(tmp_path, untrained_presets):
    torch.manual_seed(9)
    trained = Generator(tiny_config(tmp_path / "base").model_config())
    save_checkpoint(tmp_path / "trained.pt", trained, {})
    config = tiny_config(tmp_path / "run", steps=1, val_every=0)
    config.model.update(detail_gain=True)
    config.run.init = str(tmp_path / "trained.pt")
    config.optim.lr = 0.0
    state = train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))["generator"].state_dict()
    for name, tensor in trained.state_dict().items():
        assert torch.equal(state[name], tensor)
    assert not state["autoencoder.detail.weight"].any()  # the new head starts at zero


def test_a_run_can_add_a_fine_branch_to_a_model_with_a_coarse_one(tmp_path, untrained_presets):
    torch.manual_seed(8)
    base = tiny_config(tmp_path / "base")
    base.model.update(coarse_scale=4, coarse_channels=4)
    trained = Generator(base.model_config())
    torch.nn.init.normal_(trained.autoencoder.coarse.head.weight, std=0.1)  # a trained branch is kept
    save_checkpoint(tmp_path / "trained.pt", trained, {})
    config = tiny_config(tmp_path / "run", steps=1, val_every=0)
    config.model.update(coarse_scale=4, fine_scale=2, coarse_channels=4)
    config.run.init = str(tmp_path / "trained.pt")
    config.optim.lr = 0.0
    state = train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))["generator"].state_dict()
    for name, tensor in trained.state_dict().items():
        assert torch.equal(state[name], tensor)
    assert not state["autoencoder.fine.head.weight"].any()


def test_perceptual_loss_is_off_without_weights_and_says_so_once(tmp_path, capsys):
    config = tiny_config(tmp_path / "a", steps=2, val_every=0)
    config.optim.arn_pretrain = 0
    train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))
    assert capsys.readouterr().err.count("perceptual loss off") == 1
    assert "perc" not in records(tmp_path / "a")[-1]


def test_perceptual_loss_runs_with_torchvision_format_weights(tmp_path):
    from train.vgg import VGG16Features

    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in VGG16Features(["relu5_3"]).features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier too
    torch.save(state, tmp_path / "vgg16.pth")
    config = tiny_config(tmp_path / "run", steps=1, val_every=0)
    config.optim.arn_pretrain = 0
    config.loss.vgg_weights = str(tmp_path / "vgg16.pth")
    train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))
    assert records(tmp_path / "run")[-1]["perc"] > 0


def test_arn_pretraining_runs_at_its_own_lr(tmp_path):
    config = tiny_config(tmp_path / "run", steps=4, val_every=0)
    config.optim.warmup, config.optim.decay = 0, "none"
    config.optim.arn_pretrain, config.optim.arn_lr = 2, 5e-3
    train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(1, size=16))
    assert [line["lr"] for line in records(tmp_path / "run")] == [5e-3, 5e-3, 1e-3, 1e-3]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("arn_amp", "dtype"), [(True, torch.float16), (False, torch.float32)])
def test_arn_only_steps_can_keep_float32_under_amp(tmp_path, monkeypatch, arn_amp, dtype):
    seen = []
    attend_step = Generator.attend_step

    def recording(self, *state):
        mask, h, c = attend_step(self, *state)
        seen.append(mask.dtype)
        return mask, h, c

    monkeypatch.setattr(Generator, "attend_step", recording)
    config = tiny_config(tmp_path, steps=1, val_every=0, device="cuda", amp=True, arn_amp=arn_amp)
    train(config, train_set=TinyDrops(size=16), val_set=TinyDrops(2, size=16))
    assert seen and set(seen) == {dtype}


def test_lr_warms_up_then_decays():
    cosine = OptimOptions(warmup=10, decay="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, cosine, 110) == pytest.approx(0.1)
    assert lr_factor(9, cosine, 110) == pytest.approx(1.0)
    assert lr_factor(60, cosine, 110) == pytest.approx(0.55)
    assert lr_factor(110, cosine, 110) == pytest.approx(0.1)
    stepped = OptimOptions(decay="step", milestones=[5, 8], decay_gamma=0.5)
    assert [lr_factor(s, stepped, 10) for s in (4, 5, 8)] == [1.0, 0.5, 0.25]


def test_sample_stream_shards_ranks_and_restarts_at_any_position():
    def take(sampler, n):
        batches = iter(sampler)
        return [next(batches) for _ in range(n)]

    single = take(StreamBatches(10, 2, 0, 1, seed=3, start=0), 8)
    assert sorted(i for batch in single[:5] for i, _ in batch) == list(range(10))  # an epoch
    assert len({s for batch in single for _, s in batch}) == 16  # every position has its own seed
    rank0 = take(StreamBatches(10, 2, 0, 2, seed=3, start=0), 4)
    rank1 = take(StreamBatches(10, 2, 1, 2, seed=3, start=0), 4)
    assert rank0 == single[0::2] and rank1 == single[1::2]  # ranks share one stream, disjointly
    assert take(StreamBatches(10, 2, 0, 1, seed=3, start=10), 3) == single[5:8]


def test_dry_fraction_shows_dry_glass_on_a_seeded_share_of_samples():
    items = SeededItems(TinyDrops(), dry_fraction=0.4)
    drawn = [items[(i % 16, 1000 + i)] for i in range(40)]
    dry = [torch.equal(item["rain"], item["clean"]) for item in drawn]
    assert 6 <= sum(dry) <= 26  # about 40% of 40, by the seeds
    for item, is_dry in zip(drawn, dry):
        assert bool(item["mask"].any()) != is_dry  # dry glass has an empty mask; TinyDrops always has drops
    again = [items[(i % 16, 1000 + i)] for i in range(40)]
    assert all(torch.equal(a["rain"], b["rain"]) for a, b in zip(drawn, again))  # decided by the seed
    assert not any(torch.equal(item["rain"], item["clean"]) for item in (SeededItems(TinyDrops())[(0, s)] for s in range(10)))


def test_dry_fraction_must_be_a_share():
    with pytest.raises(DerainError, match="dry_fraction"):
        config_from_dict({"data": {"dry_fraction": 1.0}})


def test_render_options_reach_the_renderer():
    from train.trainer import build_datasets

    config = config_from_dict({"data": {"veil": [0.0, 0.05], "veil_level": [0.0, 0.4], "haze": [0.4, 0.75], "blur_sigma": [2.0, 9.0],
                                        "mask_threshold": 10, "tone_jitter": True, "sensor_noise": [0.0, 2.0],
                                        "rim": [0.0, 0.2], "highlight": [0.0, 0.1], "scene_bokeh": [0.0, 6.0], "scene_bokeh_chance": 0.5,
                                        "scene_defocus": [1.0, 4.0], "scene_defocus_chance": 0.3,
                                        "see_through": [0.3, 0.8], "see_through_chance": 0.5, "see_through_radius": [8.0, 20.0]}})
    train_set, val_set, _ = build_datasets(config.data, seed=0)
    for dataset in (train_set, val_set):
        assert dataset.config.veil == (0.0, 0.05) and dataset.config.blur_sigma == (2.0, 9.0)
        assert dataset.config.veil_level == (0.0, 0.4) and dataset.config.haze == (0.4, 0.75)
        assert dataset.config.mask_threshold == 10 and dataset.tone_jitter and dataset.config.sensor_noise == (0.0, 2.0)
        assert dataset.config.rim == (0.0, 0.2) and dataset.config.highlight == (0.0, 0.1)
        assert dataset.config.scene_bokeh == (0.0, 6.0) and dataset.config.scene_bokeh_chance == 0.5
        assert dataset.config.scene_defocus == (1.0, 4.0) and dataset.config.scene_defocus_chance == 0.3
        assert dataset.config.see_through == (0.3, 0.8) and dataset.config.see_through_chance == 0.5
        assert dataset.config.see_through_radius == (8.0, 20.0)
    with pytest.raises(DerainError, match="veil"):
        build_datasets(config_from_dict({"data": {"veil": [0.5, 0.1]}}).data, seed=0)
    with pytest.raises(DerainError, match="blur_sigma"):
        build_datasets(config_from_dict({"data": {"blur_sigma": [6.0, 2.0]}}).data, seed=0)
    with pytest.raises(DerainError, match="blur_sigma needs two numbers"):
        config_from_dict({"data": {"blur_sigma": [3.0]}})
    with pytest.raises(DerainError, match="veil_level needs two numbers"):
        config_from_dict({"data": {"veil_level": [0.3]}})
    with pytest.raises(DerainError, match="sensor_noise needs two numbers"):
        config_from_dict({"data": {"sensor_noise": [1.0]}})
    with pytest.raises(DerainError, match="rim needs two numbers"):
        config_from_dict({"data": {"rim": [0.1]}})
    with pytest.raises(DerainError, match="mask_pos_weight"):
        config_from_dict({"loss": {"mask_pos_weight": 0.0}})
    with pytest.raises(DerainError, match="drop_detail"):
        config_from_dict({"loss": {"drop_detail": -1.0}})
    defaults = build_datasets(config_from_dict({}).data, seed=0)[0].config
    assert defaults.veil_level is None and defaults.sensor_noise is None and defaults.scene_bokeh is None
    assert defaults.scene_defocus is None and defaults.see_through is None


@pytest.mark.parametrize("recipe", sorted((Path(__file__).resolve().parents[1] / "train" / "recipes").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_recipe_loads(recipe):
    config = load_config(recipe)
    assert config.model_config().preset in ("lite", "full")
