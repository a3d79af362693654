import copy
import dataclasses

import cv2
import numpy as np
import pytest
import torch

from conftest import TINY_LITE_CONFIG
from stream_derain.cost import count_macs, count_parameters
from stream_derain.frames import pad_to_multiple
from stream_derain.models import Discriminator, ModelConfig, build_generator
from stream_derain.models.arn import ConvLSTM, fuse_lstm_gates
from stream_derain.models.coarse import cell_stats
from stream_derain.models.detail import high_pass
from stream_derain.tiling import overlap_for


def test_full_has_the_official_parameter_count():
    assert count_parameters(build_generator("full")) == 6_244_362


def test_full_costs_403_gmac_at_480x720_and_lite_a_tenth_or_less():
    full = count_macs(build_generator("full").to("meta"), 480, 720)
    lite = count_macs(build_generator("lite").to("meta"), 480, 720)
    assert full["total"] / 1e9 == pytest.approx(403.0, abs=0.5)
    assert 0.55 < full["arn"] / full["total"] < 0.59
    assert lite["total"] <= full["total"] / 10


@pytest.mark.parametrize("preset", ["full", "lite"])
def test_forward_returns_masks_and_three_scales(preset):
    torch.manual_seed(0)
    generator = build_generator(preset).eval()
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        out = generator(x)
    assert len(out.masks) == generator.config.steps
    assert all(m.shape == (1, 1, 32, 48) for m in out.masks)
    assert out.quarter.shape == (1, 3, 8, 12)
    assert out.half.shape == (1, 3, 16, 24)
    assert out.output.shape == (1, 3, 32, 48)


@pytest.mark.parametrize("preset", ["full", "lite"])
def test_inference_split_matches_the_whole_forward(preset):
    torch.manual_seed(1)
    generator = build_generator(preset).eval()
    if generator.config.residual:  # a zero head would make the check trivially true
        torch.nn.init.normal_(generator.autoencoder.output.weight, std=0.05)
    x = torch.rand(2, 3, 32, 40)
    with torch.no_grad():
        whole = generator(x)
        mask, h, c = generator.init_state(x)
        assert float(mask.mean()) == 0.5 and float(h.abs().sum()) == 0.0
        for step in range(generator.config.steps):
            mask, h, c = generator.attend_step(x, mask, h, c)
            torch.testing.assert_close(mask, whole.masks[step])
        split = generator.restore(x, mask)
    torch.testing.assert_close(split, whole.output)
    assert split.std() > 0


def test_arn_shares_weights_across_steps():
    generator = build_generator("full")
    names = [n for n, _ in generator.arn.named_parameters()]
    assert len(names) == len(set(names))
    assert sum(p.numel() for p in generator.arn.parameters()) == 167_809  # one set of weights, not one per step


def test_lite_starts_as_identity():
    generator = build_generator("lite").eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(generator(x).output, x)


@pytest.mark.parametrize("size", [(224, 224), (480, 720), (481, 721)])
def test_discriminator_takes_any_size(size):
    # Shapes are what broke the official head; meta tensors check them without the compute.
    discriminator = Discriminator().to("meta")
    attention, logit = discriminator(torch.empty(2, 3, *size, device="meta"))
    assert attention.shape == (2, 1, *size)
    assert logit.shape == (2,)


def test_discriminator_gives_finite_logits():
    discriminator = Discriminator().eval()
    with torch.no_grad():
        attention, logit = discriminator(torch.rand(1, 3, 48, 64))
    assert torch.isfinite(logit).all() and torch.isfinite(attention).all()


def test_config_round_trips_and_rejects_unknown_keys():
    config = build_generator("lite").config
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="bogus"):
        ModelConfig.from_dict({**config.to_dict(), "bogus": 1})


def test_gated_lite_changes_only_where_the_map_sees_drops():
    torch.manual_seed(2)
    autoencoder = build_generator("lite").autoencoder.eval()
    torch.nn.init.normal_(autoencoder.output.weight, std=0.05)  # a head that moves pixels
    x = torch.rand(1, 3, 32, 48)
    mask = torch.full((1, 1, 32, 48), -30.0)  # logits: dry glass everywhere ...
    mask[..., 8:16, 8:16] = 30.0  # ... but one drop
    with torch.no_grad():
        y = autoencoder.restore(x, mask)
    changed = (y - x).abs().amax(1)[0] > 1e-6
    assert changed[8:16, 8:16].all()
    outside = torch.ones_like(changed)
    outside[8:16, 8:16] = False
    assert not changed[outside].any()


def test_the_restoration_losses_reach_the_map_through_the_gate_only_when_asked():
    torch.manual_seed(3)
    autoencoder = build_generator("lite").autoencoder
    torch.nn.init.normal_(autoencoder.output.weight, std=0.05)
    x, clean = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    gradients = []
    for gate_gradient in (False, True):
        autoencoder.gate_gradient = gate_gradient
        mask = torch.zeros(1, 1, 32, 48, requires_grad=True)
        torch.nn.functional.mse_loss(autoencoder.restore(x, mask), clean).backward()
        gradients.append(mask.grad)
    # off, the map still learns as the autoencoder's input (as in the paper), not through the gate
    through_input, through_both = gradients
    assert through_input is not None and through_both is not None
    assert (through_both - through_input).abs().max() > 1e-6


def test_a_gate_needs_a_residual_head():
    with pytest.raises(ValueError, match="residual"):
        dataclasses.replace(build_generator("lite").config, residual=False)


COARSE_LITE = dataclasses.replace(build_generator("lite").config, coarse_scale=16, pad_multiple=16)


def test_a_coarse_branch_starts_as_identity_and_stays_out_of_the_digest_while_off():
    generator = build_generator(COARSE_LITE).eval()
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(generator(x).output, x)
    assert "coarse_scale" not in build_generator("lite").config.to_dict()  # shipped digests unchanged
    assert ModelConfig.from_dict(COARSE_LITE.to_dict()) == COARSE_LITE


def test_a_coarse_branch_changes_pixels_around_drops_smoothly_and_leaves_a_dry_frame_alone():
    torch.manual_seed(3)
    autoencoder = build_generator(COARSE_LITE).autoencoder.eval()
    torch.nn.init.normal_(autoencoder.coarse.head.weight, std=0.1)
    torch.nn.init.normal_(autoencoder.coarse.head.bias, std=0.1)
    x = torch.rand(1, 3, 64, 96)
    dry = torch.full((1, 1, 64, 96), -30.0)  # logits: the map sees no drop
    wet = dry.clone()
    wet[..., 16:48, 16:48] = 30.0
    with torch.no_grad():
        torch.testing.assert_close(autoencoder.restore(x, dry), x)
        change = (autoencoder.restore(x, wet) - x).abs().amax(1)[0]
        _, offset = autoencoder.coarse(x, torch.sigmoid(wet))
    gated = torch.ones(64, 96, dtype=torch.bool)
    gated[16:48, 16:48] = False
    # beyond the drop, where the gate alone would move nothing, a band of cells around it
    assert (change[gated] > 1e-4).float().mean() > 0.5
    assert (change[:, 80:] < 1e-6).all()  # two cells (32 px) from the drop: untouched
    # gain * x follows the picture, so smoothness shows in the offset: a bilinear ramp between cells
    assert offset.diff(dim=-1).abs().amax() <= offset.abs().amax() / 4


def test_a_coarse_branch_tells_a_flat_cell_from_a_busy_one_of_the_same_mean():
    torch.manual_seed(4)
    coarse = build_generator(COARSE_LITE).autoencoder.coarse.eval()
    torch.nn.init.normal_(coarse.head.weight, std=0.1)
    flat = torch.full((1, 3, 64, 64), 0.5)
    busy = (torch.arange(64).view(1, 1, 1, 64) % 2).float().expand(1, 3, 64, 64)  # stripes 0, 1: mean 0.5
    wet = torch.ones(1, 1, 64, 64)
    with torch.no_grad():
        (flat_gain, _), (busy_gain, _) = coarse(flat, wet), coarse(busy, wet)
    assert (flat_gain - busy_gain).abs().amax() > 1e-3


def test_a_coarse_scale_must_divide_the_padding_multiple():
    with pytest.raises(ValueError, match="coarse_scale"):
        dataclasses.replace(COARSE_LITE, pad_multiple=8)
    with pytest.raises(ValueError, match="fine_scale"):
        dataclasses.replace(COARSE_LITE, fine_scale=32)


def test_a_fine_branch_adds_to_the_coarse_one_and_starts_as_identity():
    both = dataclasses.replace(COARSE_LITE, fine_scale=8)
    generator = build_generator(both).eval()
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(generator(x).output, x)
    assert "fine_scale" not in COARSE_LITE.to_dict() and ModelConfig.from_dict(both.to_dict()) == both
    assert overlap_for(both) == overlap_for(COARSE_LITE) == 144  # the wider branch sets the overlap
    torch.nn.init.normal_(generator.autoencoder.fine.head.weight, std=0.1)
    wet = torch.full((1, 1, 48, 64), 30.0)
    with torch.no_grad():
        assert (generator.autoencoder.restore(x, wet) - x).abs().amax() > 1e-3  # the fine branch alone moves it


def test_a_detail_gain_starts_as_identity_and_moves_only_the_fine_detail_even_where_the_map_is_dry():
    config = dataclasses.replace(build_generator("lite").config, detail_gain=True)
    generator = build_generator(config).eval()
    assert "detail_gain" not in build_generator("lite").config.to_dict()  # shipped digests unchanged
    assert ModelConfig.from_dict(config.to_dict()) == config
    torch.manual_seed(5)
    x = torch.rand(1, 3, 48, 64)
    dry = torch.full((1, 1, 48, 64), -30.0)
    with torch.no_grad():
        torch.testing.assert_close(generator(x).output, x)
        torch.nn.init.normal_(generator.autoencoder.detail.bias, mean=1.0, std=0.1)
        assert (generator.autoencoder.restore(x, dry) - x).abs().amax() > 1e-2  # not gated by the map
        flat = torch.full((1, 3, 48, 64), 0.4)
        torch.testing.assert_close(generator.autoencoder.restore(flat, dry), flat)  # no detail, no change
    with pytest.raises(ValueError, match="residual"):
        dataclasses.replace(build_generator("full").config, detail_gain=True)


def test_two_branches_share_their_pooling_and_give_what_each_computes_alone():
    torch.manual_seed(5)
    autoencoder = build_generator(dataclasses.replace(COARSE_LITE, fine_scale=8)).autoencoder.eval()
    for branch in (autoencoder.coarse, autoencoder.fine):
        torch.nn.init.normal_(branch.head.weight, std=0.1)
        torch.nn.init.normal_(branch.head.bias, std=0.1)
    x = torch.rand(2, 3, 64, 96)
    logits = torch.randn(2, 1, 64, 96) * 4
    with torch.no_grad():
        seen = torch.sigmoid(logits)
        fine = cell_stats(x, seen, 8)
        shared = cell_stats(x, seen, 16, fine)
        for own, pooled in zip(cell_stats(x, seen, 16), shared):
            torch.testing.assert_close(own, pooled)
        branches = autoencoder.coarse, autoencoder.fine
        autoencoder.coarse = autoencoder.fine = None
        alone = autoencoder.restore(x, logits)  # the gated residual alone
        autoencoder.coarse, autoencoder.fine = branches
        for branch in branches:  # each pooling the frame itself, added one by one
            gain, offset = branch(x, seen)
            alone = alone + gain * x + offset
        torch.testing.assert_close(autoencoder.restore(x, logits), alone, atol=1e-6, rtol=1e-5)


def test_fused_lstm_gates_compute_what_the_four_gate_convs_do():
    torch.manual_seed(0)
    model = build_generator("lite").eval()
    fused = fuse_lstm_gates(copy.deepcopy(model))
    assert not any(type(m) is ConvLSTM for m in fused.modules())
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        state = model.attend_step(x, *model.init_state(x))  # a second step sees non-zero h and c
        for a, b in zip(model.attend_step(x, *state), fused.attend_step(x, *state)):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


ZOOM_TINY = dataclasses.replace(TINY_LITE_CONFIG, map_zoom=0.5)


def test_map_zoom_merges_the_small_frames_map_and_stays_out_of_the_digest_while_off():
    torch.manual_seed(5)
    zoomed = build_generator(ZOOM_TINY).eval()
    plain = build_generator(TINY_LITE_CONFIG).eval()
    plain.load_state_dict(zoomed.state_dict())  # map_zoom adds no weights
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        merged, full = zoomed.attend(x), plain.attend(x)
        # the small frame is padded to the model's multiple as any frame is: 20x28 -> 24x32
        small = plain.attend(pad_to_multiple(torch.nn.functional.interpolate(x, size=(20, 28), mode="area"), 8)[0])
    assert len(merged) == len(full) == ZOOM_TINY.steps
    for step_merged, step_full, step_small in zip(merged, full, small):
        assert step_merged.shape == step_full.shape
        assert (step_merged >= step_full).all()  # the maximum of the two, never less than the full map
        wide = torch.nn.functional.interpolate(step_small[..., :20, :28], size=(40, 56), mode="bilinear", align_corners=False)
        torch.testing.assert_close(step_merged, torch.maximum(step_full, wide))
    assert not torch.equal(merged[-1], full[-1])
    assert "map_zoom" not in TINY_LITE_CONFIG.to_dict() and ModelConfig.from_dict(ZOOM_TINY.to_dict()) == ZOOM_TINY
    for bad in (-0.5, 1.0):
        with pytest.raises(ValueError, match="map_zoom"):
            dataclasses.replace(TINY_LITE_CONFIG, map_zoom=bad)


def test_arn_dilation_widens_the_view_with_the_same_weights_and_stays_out_of_the_digest_while_off():
    torch.manual_seed(6)
    dilated_config = dataclasses.replace(TINY_LITE_CONFIG, arn_dilation=2)
    dilated = build_generator(dilated_config).eval()
    plain = build_generator(TINY_LITE_CONFIG).eval()
    plain.load_state_dict(dilated.state_dict())  # the same weights, read two pixels apart
    x = torch.zeros(1, 3, 48, 48)
    x[..., 24, 24] = 1.0  # one bright pixel: how far its effect reaches after one step
    with torch.no_grad():
        reach = [(model.attend(x, steps=1)[-1] - model.attend(torch.zeros_like(x), steps=1)[-1]).abs() > 1e-7
                 for model in (plain, dilated)]
    assert reach[1].sum() > reach[0].sum()
    assert "arn_dilation" not in TINY_LITE_CONFIG.to_dict()
    assert ModelConfig.from_dict(dilated_config.to_dict()) == dilated_config
    with pytest.raises(ValueError, match="arn_dilation"):
        dataclasses.replace(TINY_LITE_CONFIG, arn_dilation=0)


def test_high_pass_is_the_image_minus_opencvs_gaussian_blur_per_channel():
    image = torch.rand(2, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    ours = high_pass(image, sigma=2.0)
    for b in range(2):
        frame = image[b].permute(1, 2, 0).numpy()
        blurred = cv2.GaussianBlur(frame, (13, 13), 2.0, borderType=cv2.BORDER_REPLICATE)
        assert np.abs(ours[b].permute(1, 2, 0).numpy() - (frame - blurred)).max() < 1e-5
    assert high_pass(torch.full((1, 3, 16, 16), 0.4)).abs().max() < 1e-6
