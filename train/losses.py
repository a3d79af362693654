"""The attentive GAN's losses (Qian et al., CVPR 2018, section 4), in numerically stable forms.

Every term is computed in float32 (safe under autocast) and is finite on a batch with no drops.
Discriminator outputs are raw logits, so the log-likelihood terms are BCE-with-logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stream_derain.models import GeneratorOutput
from stream_derain.models.detail import high_pass

from .config import LossOptions
from .vgg import VGG16Features


def constant_map_bce(target: torch.Tensor) -> float:
    """BCE of the best map that knows nothing: the target's own coverage everywhere. A learnt
    map's BCE over this says how much it knows about where the drops are (1.0: nothing)."""
    coverage = float(target.mean().clamp(1e-6, 1 - 1e-6))
    return -(coverage * math.log(coverage) + (1 - coverage) * math.log(1 - coverage))


def attention_probability(raw: torch.Tensor, mask_loss: str) -> torch.Tensor:
    """The ARN's map as a drop probability: a sigmoid when it is trained as logits (BCE)."""
    return torch.sigmoid(raw) if mask_loss == "bce" else raw


def attentive_loss(
    masks: list[torch.Tensor], target: torch.Tensor, theta: float, kind: str = "mse", pos_weight: float = 1.0
) -> torch.Tensor:
    """L_ATT = sum_t theta^(N-t) * loss(A_t, M): later steps weigh more.

    `kind` "mse" is the paper's (on the raw map); "bce" treats the raw map as logits, which
    gives a drop pixel a strong pull even when drops are a minority of pixels. `pos_weight`
    (BCE only) weighs a missed drop pixel that many times a false alarm: the map then leans
    toward calling an uncertain pixel a drop.
    """
    target = target.float()
    n = len(masks)
    total = torch.zeros((), device=target.device)
    for t, mask in enumerate(masks, start=1):
        if kind == "bce":
            weight = None if pos_weight == 1.0 else torch.tensor(pos_weight, device=target.device)
            term = F.binary_cross_entropy_with_logits(mask.float(), target, pos_weight=weight)
        else:
            term = F.mse_loss(mask.float(), target)
        total = total + theta ** (n - t) * term
    return total


def multiscale_loss(outputs: list[torch.Tensor], clean: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """sum_i lambda_i * MSE(S_i, T_i), with T_i the clean image area-resized to S_i's size."""
    clean = clean.float()
    total = torch.zeros((), device=clean.device)
    for output, weight in zip(outputs, weights, strict=True):
        target = clean if output.shape[-2:] == clean.shape[-2:] else F.interpolate(clean, size=output.shape[-2:], mode="area")
        total = total + weight * F.mse_loss(output.float(), target)
    return total


def drop_mse(output: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE over drop pixels only: drops get their due however few they are; 0 with no drops."""
    mask = mask.float()
    squared = (output.float() - clean.float()).pow(2).mean(1, keepdim=True)
    return (squared * mask).sum() / mask.sum().clamp(min=1.0)


def drop_detail(output: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE of the fine detail over drop pixels; 0 with no drops. Blind to a drop's smooth
    brightening, so it weighs only the detail behind the drop, which the pixel MSE drowns."""
    mask = mask.float()
    squared = high_pass(output.float() - clean.float()).pow(2).mean(1, keepdim=True)  # the high-pass is linear
    return (squared * mask).sum() / mask.sum().clamp(min=1.0)


def dry_l1(output: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |output - clean| over pixels away from drops; 0 when drops cover everything.

    L1, not MSE: a gated residual that leaks a few grey levels over the whole dry frame costs
    almost nothing squared, yet darkens every frame a user sees."""
    dry = 1.0 - mask.float()
    absolute = (output.float() - clean.float()).abs().mean(1, keepdim=True)
    return (absolute * dry).sum() / dry.sum().clamp(min=1.0)


class PerceptualLoss(nn.Module):
    """Mean over the chosen VGG16 ReLUs of MSE(features(output), features(clean))."""

    def __init__(self, vgg: VGG16Features):
        super().__init__()
        self.vgg = vgg

    def forward(self, output: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            targets = self.vgg(clean)
        features = self.vgg(output)
        terms = [F.mse_loss(f.float(), t.float()) for f, t in zip(features, targets, strict=True)]
        return torch.stack(terms).mean()


def generator_adversarial(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(O), the non-saturating form of the paper's log(1 - D(O)): same optimum, and
    gradients that do not vanish while the discriminator wins."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_map: torch.Tensor,
    fake_map: torch.Tensor,
    attention: torch.Tensor,
    gamma: float,
) -> dict[str, torch.Tensor]:
    """L_D = -log D(R) - log(1 - D(O)) + gamma * (MSE(D_map(O), A_N) + MSE(D_map(R), 0)).

    `attention` is the generator's final map (as a probability), detached: D learns to look
    where the generator found drops in fakes, and at nothing in real images.
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    adversarial = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    adversarial = adversarial + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    attention = attention.detach().float()
    if attention.shape[-2:] != fake_map.shape[-2:]:
        attention = F.interpolate(attention, size=fake_map.shape[-2:], mode="bilinear", align_corners=False)
    map_loss = F.mse_loss(fake_map.float(), attention) + F.mse_loss(real_map.float(), torch.zeros_like(attention))
    return {"d_adv": adversarial, "d_map": map_loss, "d_total": adversarial + gamma * map_loss}


def generator_losses(
    out: GeneratorOutput,
    clean: torch.Tensor,
    mask: torch.Tensor,
    options: LossOptions,
    perceptual: PerceptualLoss | None = None,
    fake_logits: torch.Tensor | None = None,
    attention_target: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Every generator term, weighted, and their sum under "total".

    The perceptual and adversarial terms are present only when their module/logits are given.
    `attention_target` is the map's target where it is not the drops' `mask` (a second pass's).
    """
    target = mask if attention_target is None else attention_target
    terms = {
        "att": options.attention * attentive_loss(out.masks, target, options.theta, options.mask_loss, options.mask_pos_weight),
        "ms": multiscale_loss([out.quarter, out.half, out.output], clean, options.multiscale),
        "drop": options.drop_mse * drop_mse(out.output, clean, mask),
    }
    if options.dry_l1 > 0:
        terms["dry"] = options.dry_l1 * dry_l1(out.output, clean, mask)
    if options.drop_detail > 0:
        terms["detail"] = options.drop_detail * drop_detail(out.output, clean, mask)
    if perceptual is not None:
        terms["perc"] = options.perceptual * perceptual(out.output, clean)
    if fake_logits is not None:
        terms["gan"] = options.gan * generator_adversarial(fake_logits)
    terms["total"] = torch.stack(list(terms.values())).sum()
    return terms
