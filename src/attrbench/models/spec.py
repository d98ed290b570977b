"""What the model registry stores (:class:`ModelSpec`) and what a built model remembers
(:class:`ModelBuild`).

A :class:`ModelSpec` is the timm-style registry entry: a builder plus the facts other modules need
without building the model (which submodule Grad-CAM/CAM hooks, which linear layer CAM reads, the
smallest sensible input). A :class:`ModelBuild` is attached to every model made by
:func:`attrbench.models.create_model` so that checkpoints can record how to rebuild it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

#: Attribute name under which :func:`attrbench.models.create_model` stores a :class:`ModelBuild`.
BUILD_ATTR = "attrbench_build"

#: ``builder(num_classes, in_channels, **kwargs) -> nn.Module``.
ModelBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model architecture.

    Attributes:
        name: snake_case registry key, usable on the command line (``cifar_resnet18``).
        builder: ``builder(num_classes: int, in_channels: int, **kwargs) -> nn.Module``; returns
            the bare network (no input normalisation; :func:`~attrbench.models.create_model` adds
            that).
        description: one line shown by ``attrbench models``.
        cam_layer: dotted name (relative to the bare network) of the last convolutional block, whose
            output ``(B, K, h, w)`` Grad-CAM and CAM read (Zhou et al. 2016; Selvaraju et al. 2017).
        fc_layer: dotted name of the final ``nn.Linear``; the network computes
            ``logits = fc(mean_{h,w} cam_layer(x))``, which is what makes CAM applicable.
        min_input_size: smallest sensible height/width in pixels: the network's total downsampling
            factor, so that the ``cam_layer`` output is at least 1x1 "real" pixel.
        default_input_shape: ``(C, H, W)`` the architecture was designed for.
        family: ``"cifar"`` (32x32 stem), ``"imagenet"`` (7x7 stride-2 stem plus max-pool) or
            ``"small"``.
        reference: the paper or code the architecture follows.
        default_kwargs: extra builder keyword arguments and their defaults (overridable).
    """

    name: str
    builder: ModelBuilder
    description: str
    cam_layer: str
    fc_layer: str
    min_input_size: int
    default_input_shape: tuple[int, int, int]
    family: str
    reference: str = ""
    default_kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelBuild:
    """How a model was built: enough to rebuild it (recorded in checkpoint sidecars).

    Attributes:
        architecture: registry name.
        num_classes: number of output logits.
        in_channels: input channels ``C``.
        input_normalization: ``{"mean": [...], "std": [...]}`` applied inside the model, or
            ``None``.
        kwargs: the remaining JSON-serialisable builder keyword arguments.
    """

    architecture: str
    num_classes: int
    in_channels: int
    input_normalization: dict[str, list[float]] | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``model`` section of a checkpoint sidecar)."""
        return {
            "architecture": self.architecture,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "input_normalization": self.input_normalization,
            "kwargs": dict(self.kwargs),
        }
