"""torchvision ResNets: the FPA authors' CIFAR ResNet-18 variant, and stock ResNet-18/50.

All are built with ``weights=None`` (random initialisation). ImageNet-pretrained weights are
available only through ``pretrained=True`` *and* ``allow_download=True``, because they are fetched
from download.pytorch.org (about 45 MB for ResNet-18, 100 MB for ResNet-50); nothing is ever
downloaded by default.
"""

from __future__ import annotations

import logging

import torchvision
from torch import nn

from attrbench.errors import AttrbenchError

_LOG = logging.getLogger(__name__)


def _replace_stem_channels(model: torchvision.models.ResNet, in_channels: int) -> None:
    """Give the network a fresh first convolution taking ``in_channels`` channels."""
    old = model.conv1
    model.conv1 = nn.Conv2d(
        in_channels, old.out_channels, kernel_size=old.kernel_size,  # type: ignore[arg-type]
        stride=old.stride, padding=old.padding, bias=False,  # type: ignore[arg-type]
    )
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")


def cifar_resnet18(num_classes: int, in_channels: int) -> nn.Module:
    """ResNet-18 for 32x32 inputs, as in the FPA authors' code (NOTES §1.3, ``create_model``).

    ``torchvision.models.resnet18(weights=None, num_classes=num_classes)`` with ``conv1``
    replaced by a 3x3, stride-1, padding-1 convolution without bias and ``maxpool`` replaced by
    ``nn.Identity``;
    everything else stock (BasicBlocks [2, 2, 2, 2], global average pool, fc 512 -> num_classes).
    Total downsampling is 8, so a 32x32 input gives a 4x4 ``layer4`` map.

    Args:
        num_classes: number of logits.
        in_channels: input channels of the new ``conv1``.
    """
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    # Same initialisation torchvision applies to every other convolution of the network.
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()  # type: ignore[assignment]
    return model


def _imagenet_resnet(
    arch: str, num_classes: int, in_channels: int, pretrained: bool, allow_download: bool
) -> nn.Module:
    factory = getattr(torchvision.models, arch)
    if not pretrained:
        model = factory(weights=None, num_classes=num_classes)
        if in_channels != 3:
            _replace_stem_channels(model, in_channels)
        return model
    if not allow_download:
        raise AttrbenchError(
            f"pretrained=True would download ImageNet weights for {arch} from "
            f"download.pytorch.org; pass allow_download=True to confirm, or drop pretrained."
        )
    if in_channels != 3:
        raise AttrbenchError(
            f"Pretrained {arch} weights expect 3 input channels, got in_channels={in_channels}; "
            f"use pretrained=False for other channel counts."
        )
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    _LOG.warning("Downloading ImageNet weights %s for %s (cached by torch.hub).", weights, arch)
    model = factory(weights=weights)
    if num_classes != model.fc.out_features:
        # Keep the pretrained backbone, start a fresh classifier head for the new classes.
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def resnet18(
    num_classes: int, in_channels: int, pretrained: bool = False, allow_download: bool = False
) -> nn.Module:
    """Stock torchvision ResNet-18 (7x7 stride-2 stem plus max-pool, total downsampling 32).

    Args:
        num_classes: number of logits.
        in_channels: input channels (a fresh 7x7 ``conv1`` is made when not 3).
        pretrained: load torchvision's ImageNet weights (needs ``allow_download``); the ``fc``
            head is re-initialised when ``num_classes != 1000``.
        allow_download: explicit consent to fetch the weights from download.pytorch.org.
    """
    return _imagenet_resnet("resnet18", num_classes, in_channels, pretrained, allow_download)


def resnet50(
    num_classes: int, in_channels: int, pretrained: bool = False, allow_download: bool = False
) -> nn.Module:
    """Stock torchvision ResNet-50, the FPA paper's ImageNet and Food-101 model (NOTES §1.3).

    Args:
        num_classes: number of logits (1000 ImageNet, 101 Food-101).
        in_channels: input channels (a fresh 7x7 ``conv1`` is made when not 3).
        pretrained: load torchvision's ImageNet weights (needs ``allow_download``); the ``fc``
            head is re-initialised when ``num_classes != 1000``.
        allow_download: explicit consent to fetch the weights from download.pytorch.org.
    """
    return _imagenet_resnet("resnet50", num_classes, in_channels, pretrained, allow_download)
