"""VGG16's convolutional trunk for the perceptual loss, loading torchvision's weight files.

Written here so training needs no torchvision. The layer indices match torchvision's
`vgg16().features`, so its state dict (`features.N.weight`, `features.N.bias`) loads as is.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from stream_derain.checkpoint import load_plain
from stream_derain.errors import DerainError

# (channels out, convs) per block; a 2x2 max-pool follows every block.
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def relu_indices() -> dict[str, int]:
    """`relu1_1` -> 1, `relu1_2` -> 3, `relu2_1` -> 6, ... (torchvision's feature indices)."""
    names, index = {}, 0
    for block, (_, convs) in enumerate(BLOCKS, start=1):
        for conv in range(1, convs + 1):
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
        index += 1  # the max-pool
    return names


class VGG16Features(nn.Module):
    """VGG16 up to the deepest requested ReLU; returns that ReLU's output for each name.

    Takes RGB in [0, 1] and applies the ImageNet normalisation itself.
    """

    def __init__(self, layers: list[str]):
        super().__init__()
        known = relu_indices()
        unknown = [name for name in layers if name not in known]
        if unknown or not layers:
            raise DerainError(f"unknown VGG16 layers {unknown or layers}; choose from {', '.join(known)}")
        self.taps = {known[name]: name for name in layers}
        modules: list[nn.Module] = []
        cin = 3
        for cout, convs in BLOCKS:
            for _ in range(convs):
                modules += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
                cin = cout
            modules.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*modules[: max(self.taps) + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x = (rgb - self.mean) / self.std
        outputs = []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.taps:
                outputs.append(x)
        return outputs


def load_vgg16(path: Path, layers: list[str]) -> VGG16Features:
    """A frozen VGG16 trunk from a torchvision `vgg16` state-dict file (safe loading only)."""
    state = load_plain(path, "VGG16 weights file")
    model = VGG16Features(layers)
    wanted = model.features.state_dict()
    prefix = "features."
    try:
        trunk = {key: state[prefix + key] for key in wanted}
        model.features.load_state_dict(trunk)
    except (KeyError, TypeError, RuntimeError) as error:
        raise DerainError(
            f"{path} is not a torchvision vgg16 state dict (features.N.weight keys): {error}"
        ) from None
    model.requires_grad_(False)
    return model.eval()
