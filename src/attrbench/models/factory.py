"""The model registry: ``list_models``, ``get_model_spec``, ``create_model`` (the timm way).

Registration is explicit: every entry is listed in :func:`_register_builtin_models` below, and a
test asserts the exact set of names.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.models.cifar_resnet import CIFAR_RESNET_DEPTHS, build_cifar_resnet
from attrbench.models.normalization import (
    InputNormalization,
    NormalizationArg,
    resolve_normalization,
    unwrap_model,
)
from attrbench.models.small_cnn import small_cnn
from attrbench.models.spec import BUILD_ATTR, ModelBuild, ModelSpec
from attrbench.models.torchvision_resnets import cifar_resnet18, resnet18, resnet50
from attrbench.registry import Registry

MODELS: Registry[ModelSpec] = Registry("model")

_CIFAR_RESNET_PARAMS = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M"}


def _register_builtin_models() -> None:
    MODELS.register("small_cnn", ModelSpec(
        name="small_cnn", builder=small_cnn,
        description="Small fast CNN (conv32-32-pool-64-64-pool-128-GAP-fc) for tests and demos",
        cam_layer="features.block5", fc_layer="fc", min_input_size=4,
        default_input_shape=(3, 32, 32), family="small", reference="attrbench",
    ))
    MODELS.register("cifar_resnet18", ModelSpec(
        name="cifar_resnet18", builder=cifar_resnet18,
        description="torchvision ResNet-18, 3x3 stride-1 stem, no max-pool (FPA authors' CIFAR)",
        cam_layer="layer4", fc_layer="fc", min_input_size=8,
        default_input_shape=(3, 32, 32), family="cifar",
        reference="Brocki & Chung, FPA code create_model (NOTES §1.3)",
    ))
    for depth in sorted(CIFAR_RESNET_DEPTHS):
        name = f"cifar_resnet{depth}"
        MODELS.register(name, ModelSpec(
            name=name, builder=build_cifar_resnet(depth),
            description=f"ResNet-{depth} for CIFAR, option-A shortcuts (He et al. 2016, "
                        f"{_CIFAR_RESNET_PARAMS[depth]})",
            cam_layer="layer3", fc_layer="fc", min_input_size=4,
            default_input_shape=(3, 32, 32), family="cifar",
            reference="He et al. 2016, Deep Residual Learning, Sec. 4.2",
        ))
    for name, builder, what in (("resnet18", resnet18, "ResNet-18"),
                                ("resnet50", resnet50, "ResNet-50 (FPA ImageNet/Food-101)")):
        MODELS.register(name, ModelSpec(
            name=name, builder=builder,
            description=f"torchvision {what}, random init",
            cam_layer="layer4", fc_layer="fc", min_input_size=32,
            default_input_shape=(3, 224, 224), family="imagenet",
            reference="He et al. 2016; torchvision",
            default_kwargs={"pretrained": False, "allow_download": False},
        ))


_register_builtin_models()


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered model names matching a shell-style ``pattern`` (``"cifar_resnet*"``)."""
    return MODELS.names(pattern)


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered as ``name``.

    Raises:
        AttrbenchError: unknown name (the message lists the valid names).
    """
    return MODELS.get(name)


def _check_positive_int(what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise AttrbenchError(f"{what} must be a positive integer, got {value!r}.")
    return int(value)


def create_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    *,
    input_normalization: NormalizationArg = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model with random weights (training mode, on the CPU).

    The returned module remembers how it was built (a :class:`ModelBuild` under the attribute
    ``attrbench_build``), which :func:`attrbench.models.save_checkpoint` records.

    Args:
        name: registry name, see :func:`list_models`.
        num_classes: number of output logits ``K``.
        in_channels: image channels ``C`` (3 for RGB, 1 for MNIST).
        input_normalization: ``None`` (default: inputs come normalised by the data loader,
            mean = std = 0.5 for the embedded sets), a preset (``"imagenet"``, ``"half"``), or a
            ``(mean, std)`` pair; when given, the model takes ``[0, 1]`` images and normalises
            them itself.
        **kwargs: builder options listed in the spec's ``default_kwargs`` (e.g. ``pretrained``).

    Returns:
        ``nn.Module`` mapping ``(B, C, H, W)`` float images to ``(B, K)`` logits.

    Raises:
        AttrbenchError: unknown name, bad ``num_classes`` / ``in_channels``, unknown option.
    """
    spec = get_model_spec(name)
    num_classes = _check_positive_int("num_classes", num_classes)
    in_channels = _check_positive_int("in_channels", in_channels)
    unknown = sorted(set(kwargs) - set(spec.default_kwargs))
    if unknown:
        valid = ", ".join(sorted(spec.default_kwargs)) or "none"
        raise AttrbenchError(
            f"Model {name!r} does not take option(s) {', '.join(unknown)}; valid options: {valid}."
        )
    norm = resolve_normalization(input_normalization, in_channels)
    model = spec.builder(num_classes, in_channels, **kwargs)
    if norm is not None:
        model = InputNormalization(model, norm["mean"], norm["std"])
    options = {**spec.default_kwargs, **kwargs}
    try:
        json.dumps(options)
    except TypeError:
        raise AttrbenchError(
            f"Model options must be JSON values (they go in checkpoints), got {options!r}."
        ) from None
    build = ModelBuild(name, num_classes, in_channels, norm, options)
    setattr(model, BUILD_ATTR, build)
    return model


def model_build_of(model: nn.Module) -> ModelBuild | None:
    """The :class:`ModelBuild` recorded by :func:`create_model`, or ``None`` for foreign models."""
    build = getattr(model, BUILD_ATTR, None)
    return build if isinstance(build, ModelBuild) else None


def model_spec_of(model: nn.Module) -> ModelSpec | None:
    """The registry spec of a model made by :func:`create_model` (``None`` for foreign models)."""
    build = model_build_of(model)
    return MODELS.get(build.architecture) if build is not None else None


def resolve_layer(model: nn.Module, dotted_name: str) -> nn.Module:
    """The submodule ``dotted_name`` (as in :attr:`ModelSpec.cam_layer`) of ``model``.

    Names are relative to the bare network, so this also works through an
    :class:`~attrbench.models.normalization.InputNormalization` wrapper.

    Raises:
        AttrbenchError: no such submodule (the message lists the top-level children).
    """
    bare = unwrap_model(model)
    try:
        return bare.get_submodule(dotted_name)
    except AttributeError:
        children = ", ".join(n for n, _ in bare.named_children())
        raise AttrbenchError(
            f"Model {type(bare).__name__} has no submodule {dotted_name!r}; "
            f"top-level modules: {children}."
        ) from None


def count_parameters(name: str, num_classes: int = 10, in_channels: int = 3) -> int:
    """Parameters of a registered model, counted without allocating weights (meta device)."""
    spec = get_model_spec(name)
    with torch.device("meta"):
        model = spec.builder(num_classes, in_channels)
    return sum(p.numel() for p in model.parameters())


def architecture_summary(
    name: str, num_classes: int = 10, in_channels: int = 3
) -> Mapping[str, Any]:
    """Name, parameter count and layout facts of a registered model (``attrbench models``)."""
    spec = get_model_spec(name)
    return {
        "name": spec.name,
        "params": count_parameters(name, num_classes, in_channels),
        "input": "x".join(str(v) for v in spec.default_input_shape),
        "min_input_size": spec.min_input_size,
        "cam_layer": spec.cam_layer,
        "family": spec.family,
        "description": spec.description,
    }
