"""The paper's losses: their weights and forms, stability, and the VGG16 trunk's file format."""

import math

import pytest
import torch
import torch.nn.functional as F

from stream_derain.errors import DerainError
from stream_derain.models import GeneratorOutput
from train.config import LossOptions
from train.losses import (
    PerceptualLoss,
    attentive_loss,
    constant_map_bce,
    discriminator_loss,
    drop_detail,
    drop_mse,
    dry_l1,
    generator_adversarial,
    generator_losses,
    multiscale_loss,
)
from train.vgg import VGG16Features, load_vgg16, relu_indices


def test_attentive_loss_weighs_step_t_by_theta_to_the_n_minus_t():
    target = torch.zeros(1, 1, 4, 4)
    masks = [torch.full((1, 1, 4, 4), float(t)) for t in (1, 2, 3, 4)]  # MSE of step t is t^2
    expected = sum(0.8 ** (4 - t) * t * t for t in (1, 2, 3, 4))
    assert attentive_loss(masks, target, theta=0.8).item() == pytest.approx(expected)


def test_attentive_bce_treats_the_map_as_logits():
    target = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    logits = torch.tensor([2.0, -1.0]).view(1, 1, 1, 2)
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    assert attentive_loss([logits], target, 0.8, "bce").item() == pytest.approx(expected, rel=1e-6)


def test_attentive_bce_pos_weight_scales_only_the_drop_pixels_term():
    target = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    logits = torch.tensor([2.0, -1.0]).view(1, 1, 1, 2)
    expected = (3 * math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    assert attentive_loss([logits], target, 0.8, "bce", pos_weight=3.0).item() == pytest.approx(expected, rel=1e-6)


def test_multiscale_loss_compares_each_scale_with_the_resized_clean_image():
    clean = torch.rand(2, 3, 16, 16)
    exact = [F.avg_pool2d(clean, 4), F.avg_pool2d(clean, 2), clean]
    assert multiscale_loss(exact, clean, [0.6, 0.8, 1.0]).item() == pytest.approx(0.0, abs=1e-12)
    off = [s + 0.1 for s in exact]  # MSE 0.01 at each scale
    assert multiscale_loss(off, clean, [0.6, 0.8, 1.0]).item() == pytest.approx(0.024, rel=1e-4)


def test_drop_mse_averages_over_drop_pixels_only():
    clean = torch.zeros(1, 3, 4, 4)
    output = torch.zeros(1, 3, 4, 4)
    output[..., 0, 0] = 1.0  # wrong on one pixel, inside the one-pixel drop
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1
    assert drop_mse(output, clean, mask).item() == pytest.approx(1.0)
    assert drop_mse(output, clean, torch.zeros_like(mask)).item() == 0.0


def test_dry_l1_is_the_mean_shift_away_from_drops():
    clean = torch.full((1, 3, 4, 4), 0.5)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1  # the top half holds drops
    output = clean - 0.02  # the whole frame darkened a little
    output[..., :2, :] = 0.0  # and the drops wildly wrong: not this term's business
    assert dry_l1(output, clean, mask).item() == pytest.approx(0.02)
    assert dry_l1(output, clean, torch.ones_like(mask)).item() == 0.0
    options = LossOptions(dry_l1=2.0)
    out = GeneratorOutput(masks=[torch.zeros(1, 1, 4, 4)], quarter=F.avg_pool2d(output, 4), half=F.avg_pool2d(output, 2), output=output)
    assert generator_losses(out, clean, mask, options)["dry"].item() == pytest.approx(0.04)
    assert "dry" not in generator_losses(out, clean, mask, LossOptions())


def test_drop_detail_weighs_the_detail_inside_drops_and_not_their_brightening():
    torch.manual_seed(0)
    clean = 0.5 + 0.1 * torch.randn(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    brightened = clean + 0.2  # a smooth lift over the frame: no detail changed
    assert drop_detail(brightened, clean, mask).item() == pytest.approx(0.0, abs=1e-10)
    flattened = torch.where(mask.bool(), 0.5 + 0.5 * (clean - 0.5), clean)  # the drop halves the detail
    assert drop_detail(flattened, clean, mask).item() > 1e-3
    assert drop_detail(flattened, clean, torch.zeros_like(mask)).item() == 0.0  # no drops: no NaN
    options = LossOptions(drop_detail=3.0)
    out = GeneratorOutput(masks=[torch.zeros(1, 1, 32, 32)], quarter=F.avg_pool2d(flattened, 4), half=F.avg_pool2d(flattened, 2), output=flattened)
    terms = generator_losses(out, clean, mask, options)
    assert terms["detail"].item() == pytest.approx(3.0 * drop_detail(flattened, clean, mask).item())
    assert "detail" not in generator_losses(out, clean, mask, LossOptions())


def test_discriminator_loss_is_the_paper_form_and_finite_at_extreme_logits():
    real, fake = torch.tensor([0.3]), torch.tensor([-0.7])
    maps = torch.full((1, 1, 4, 4), 0.5)
    attention = torch.ones(1, 1, 4, 4)
    terms = discriminator_loss(real, fake, maps * 0, maps, attention, gamma=0.05)
    sigmoid = torch.sigmoid
    expected_adv = -torch.log(sigmoid(real)) - torch.log(1 - sigmoid(fake))
    assert terms["d_adv"].item() == pytest.approx(expected_adv.item(), rel=1e-6)
    assert terms["d_map"].item() == pytest.approx(0.25)  # (0.5 - 1)^2 on the fake, 0 on the real
    assert terms["d_total"].item() == pytest.approx(expected_adv.item() + 0.05 * 0.25, rel=1e-6)
    extreme = discriminator_loss(torch.tensor([-1e4]), torch.tensor([1e4]), maps, maps, attention, 0.05)
    assert all(torch.isfinite(v) for v in extreme.values())
    assert torch.isfinite(generator_adversarial(torch.tensor([-1e4])))
    assert generator_adversarial(torch.tensor([0.0])).item() == pytest.approx(math.log(2))


def test_no_nan_and_finite_gradients_on_a_batch_without_drops():
    from test_trainer import TINY_MODEL
    from train.config import config_from_dict
    from stream_derain.models import Generator

    torch.manual_seed(0)
    generator = Generator(config_from_dict({"model": TINY_MODEL}).model_config())
    rain = torch.rand(2, 3, 16, 16)
    no_drops = torch.zeros(2, 1, 16, 16)
    for mask_loss in ("mse", "bce"):
        options = LossOptions(mask_loss=mask_loss, drop_mse=1.0)
        out = generator(rain)
        terms = generator_losses(out, rain, no_drops, options, fake_logits=torch.zeros(2))
        generator.zero_grad()
        terms["total"].backward()
        assert all(torch.isfinite(v) for v in terms.values())
        assert all(torch.isfinite(p.grad).all() for p in generator.parameters() if p.grad is not None)


def test_generator_losses_apply_the_weights():
    clean = torch.rand(1, 3, 8, 8)
    out = GeneratorOutput([torch.ones(1, 1, 8, 8)], F.avg_pool2d(clean, 4), F.avg_pool2d(clean, 2), clean + 0.1)
    mask = torch.zeros(1, 1, 8, 8)
    options = LossOptions(attention=2.0, gan=0.01)
    terms = generator_losses(out, clean, mask, options, fake_logits=torch.zeros(1))
    assert terms["att"].item() == pytest.approx(2.0)
    assert terms["ms"].item() == pytest.approx(0.01, rel=1e-4)
    assert terms["gan"].item() == pytest.approx(0.01 * math.log(2))
    assert terms["total"].item() == pytest.approx(sum(terms[k].item() for k in ("att", "ms", "drop", "gan")))


def test_vgg_layer_names_match_torchvision_indices():
    names = relu_indices()
    assert [names[n] for n in ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_3", "relu4_3", "relu5_3")] == [1, 3, 6, 8, 15, 22, 29]
    with pytest.raises(DerainError):
        VGG16Features(["relu9_9"])


def test_vgg_loads_a_torchvision_state_dict_and_the_perceptual_loss_sees_differences(tmp_path):
    torch.manual_seed(0)
    full = VGG16Features(["relu5_3"])
    state = {f"features.{k}": v for k, v in full.features.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)
    torch.save(state, tmp_path / "vgg16.pth")
    trunk = load_vgg16(tmp_path / "vgg16.pth", ["relu1_1", "relu2_2"])
    assert len(trunk.features) == 9  # up to relu2_2, nothing deeper
    assert torch.equal(trunk.features[7].weight, full.features[7].weight)
    assert not any(p.requires_grad for p in trunk.parameters())
    loss = PerceptualLoss(trunk)
    image = torch.rand(1, 3, 16, 16)
    assert loss(image, image).item() == 0.0
    assert loss(image, image.flip(-1)).item() > 0
    del state["features.7.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(DerainError, match="not a torchvision vgg16"):
        load_vgg16(tmp_path / "broken.pth", ["relu2_2"])
    with pytest.raises(DerainError, match="not found"):
        load_vgg16(tmp_path / "missing.pth", ["relu2_2"])


def test_constant_map_bce_is_the_bce_of_a_map_at_the_targets_coverage():
    target = (torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    coverage = target.mean()
    logits = torch.full_like(target, float(torch.logit(coverage)))
    assert constant_map_bce(target) == pytest.approx(float(F.binary_cross_entropy_with_logits(logits, target)), rel=1e-5)
    for other in (0.1, 0.5, 0.9):  # and no other constant does better
        worse = F.binary_cross_entropy_with_logits(torch.full_like(target, float(torch.logit(torch.tensor(other)))), target)
        assert constant_map_bce(target) <= float(worse) + 1e-6
