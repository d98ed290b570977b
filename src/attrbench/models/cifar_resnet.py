"""The CIFAR-10 ResNets of He et al. 2016 ("Deep Residual Learning for Image Recognition",
Sec. 4.2).

The network takes 32x32 inputs; a 3x3 convolution with 16 filters is followed by three stages of
``n`` BasicBlocks (two 3x3 convolutions each) on feature maps of 32, 16 and 8 pixels with 16, 32 and
64 filters; the first block of stages 2 and 3 subsamples with stride 2. Then global average pooling
and a fully connected layer. Depth is ``6n + 2``: ResNet-20/32/44/56 for n = 3/5/7/9, with
0.27M/0.46M/0.66M/0.85M parameters (Table 6 of the paper).

Shortcuts are identity everywhere; where dimensions grow they use the paper's **option A**: the
input is subsampled with stride 2 and the new channels are zero (no extra parameters). Weights use
the initialisation of He et al. 2015 (Kaiming normal, fan-out); BatchNorm starts at 1 and 0.

torchvision ships only the ImageNet ResNets (7x7 stem, projection shortcuts, 64-512 filters), so
this architecture is written here from the paper.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: Blocks per stage ``n`` for each depth ``6n + 2``.
CIFAR_RESNET_DEPTHS: dict[int, int] = {20: 3, 32: 5, 44: 7, 56: 9}


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: stride-2 subsampling plus zero channels (He et al. 2016, Sec. 3.3 / 4.2).

    Args:
        out_channels: channels of the output; the input's channels come first, zeros after.
        stride: spatial subsampling factor (2 in the paper).
    """

    def __init__(self, out_channels: int, stride: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W)`` -> ``(B, out_channels, ceil(H/stride), ceil(W/stride))``."""
        x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_channels - x.shape[1]
        # F.pad pads the last dims first: (W_left, W_right, H_top, H_bottom, C_front, C_back).
        return F.pad(x, (0, 0, 0, 0, 0, extra)) if extra > 0 else x

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a parameter-free shortcut: ``relu(F(x) + shortcut(x))``.

    Args:
        in_channels: input channels.
        out_channels: output channels (== ``in_channels`` unless the block starts a stage).
        stride: stride of the first convolution (2 when the stage halves the resolution).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module
        if stride != 1 or in_channels != out_channels:
            self.shortcut = ZeroPadShortcut(out_channels, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, H / stride, W / stride)``."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs (He et al. 2016, Sec. 4.2).

    Submodules are named like torchvision's ResNets (``conv1``, ``bn1``, ``layer1..3``, ``avgpool``,
    ``fc``), so ``layer3`` is the last convolutional block for Grad-CAM/CAM.

    Args:
        depth: 20, 32, 44 or 56 (any ``6n + 2`` works).
        num_classes: number of logits.
        in_channels: input channels (3 for CIFAR, 1 for MNIST).
    """

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, n, stride=1)
        self.layer2 = self._stage(16, 32, n, stride=2)
        self.layer3 = self._stage(32, 64, n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        self._init_weights()

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(in_channels, out_channels, stride)]
        layers += [BasicBlock(out_channels, out_channels, 1) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        # He et al. 2016 Sec. 3.4: "We initialize the weights as in [He et al. 2015]".
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` (32x32 in the paper) -> logits ``(B, num_classes)``."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_cifar_resnet(depth: int) -> Callable[[int, int], nn.Module]:
    """A registry builder for :class:`CifarResNet` of the given depth."""

    def builder(num_classes: int, in_channels: int) -> nn.Module:
        return CifarResNet(depth, num_classes=num_classes, in_channels=in_channels)

    builder.__name__ = f"cifar_resnet{depth}"
    builder.__doc__ = f"ResNet-{depth} for CIFAR (He et al. 2016, Sec. 4.2), option-A shortcuts."
    return builder
