"""PyTorch versions of the benchmark architectures: the MLP, SmallCNN and two ResNet layouts.

Inputs are 1x28x28 f32 images and the outputs are 10 class logits. The layer
order, kernel sizes, padding, strides and bias flags must stay equal to the
Rust definitions, because the timings are compared one to one.
"""

from __future__ import annotations

import torch
from torch import nn

IN_CHANNELS = 1
IMAGE_SIZE = 28
NUM_CLASSES = 10


def mlp() -> nn.Module:
    """Build the MLP: flatten 784 -> 256 -> ReLU -> 256 -> ReLU -> 10."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(IN_CHANNELS * IMAGE_SIZE * IMAGE_SIZE, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, NUM_CLASSES),
    )


def small_cnn() -> nn.Module:
    """Build the SmallCNN, whose feature maps go 28 -> 26 -> 13 -> 11 -> 5 -> 5 -> 2."""
    return nn.Sequential(
        nn.Conv2d(IN_CHANNELS, 32, 3),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 1),
        nn.BatchNorm2d(128),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, NUM_CLASSES, bias=False),
    )


class PlainBlock(nn.Module):
    """Residual block y = x + BN(conv3x3(ReLU(BN(conv3x3(x))))), with no ReLU after the sum."""

    def __init__(self, width: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)


class TransitionBlock(nn.Module):
    """Residual block that halves the spatial size and changes the width.

    The residual branch starts with a stride-2 3x3 convolution. The skip branch
    is AvgPool2d(2) followed by a 1x1 convolution without bias.
    """

    def __init__(self, in_width: int, out_width: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(in_width, out_width, 3, stride=2, padding=1),
            nn.BatchNorm2d(out_width),
            nn.ReLU(),
            nn.Conv2d(out_width, out_width, 3, padding=1),
            nn.BatchNorm2d(out_width),
        )
        self.skip = nn.Sequential(
            nn.AvgPool2d(2),
            nn.Conv2d(in_width, out_width, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.residual(x)


def build_resnet(plain_blocks_after_transition: int) -> nn.Module:
    """Build a ResNet at widths 32, 64 and 128 (spatial 28 -> 14 -> 7).

    The stem is a padded 3x3 convolution, batch norm and ReLU. Stage 1 is one
    PlainBlock at width 32, and stages 2 and 3 each start with a
    TransitionBlock followed by `plain_blocks_after_transition` PlainBlocks.

    NOTE: the 3x3 convolutions keep their bias, as in SmallCNN, and only the
    1x1 skip convolutions drop it.
    """
    layers = [nn.Conv2d(IN_CHANNELS, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), PlainBlock(32)]
    for in_width, out_width in [(32, 64), (64, 128)]:
        layers.append(TransitionBlock(in_width, out_width))
        layers.extend(PlainBlock(out_width) for _ in range(plain_blocks_after_transition))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, NUM_CLASSES)]
    return nn.Sequential(*layers)


def resnet() -> nn.Module:
    """Build the 5-block ResNet: plain 32, transition to 64, plain 64, transition to 128, plain 128."""
    return build_resnet(plain_blocks_after_transition=1)


def resnet_3_blocks() -> nn.Module:
    """Build the 3-block ResNet: plain 32, transition to 64, transition to 128.

    This is the layout that one block per stage gives when the transition
    block counts as its stage's block.
    """
    return build_resnet(plain_blocks_after_transition=0)


ARCHITECTURES = {
    "mlp": mlp,
    "small_cnn": small_cnn,
    "resnet": resnet,
    "resnet_3_blocks": resnet_3_blocks,
}


def build(architecture: str) -> nn.Module:
    """Build the named architecture with PyTorch's default initialization."""
    return ARCHITECTURES[architecture]()
