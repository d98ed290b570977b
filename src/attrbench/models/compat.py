"""Check, before any forward pass, that images fit a model (channels and minimum size).

Without this a 1-channel MNIST batch fed to an RGB model fails deep inside ``conv2d`` with a shape
traceback; here it fails at the boundary with a one-line message that says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.models.factory import model_build_of, model_spec_of
from attrbench.models.normalization import unwrap_model
from attrbench.models.spec import ModelSpec


def first_conv_in_channels(model: nn.Module) -> int | None:
    """``in_channels`` of the first ``nn.Conv2d`` in module order (``None`` if there is none)."""
    for module in unwrap_model(model).modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return None


def check_input_compatible(
    model_or_spec: nn.Module | ModelSpec | str,
    image_shape: Sequence[int],
    *,
    in_channels: int | None = None,
) -> None:
    """Raise a clear error if images of ``image_shape`` cannot be fed to the model.

    Args:
        model_or_spec: a built model (its first convolution gives the channel count; a model from
            ``create_model`` also gives the minimum size), a :class:`ModelSpec`, or a registry name.
        image_shape: ``(C, H, W)`` of one image.
        in_channels: the channel count the model was (or will be) built with; needed to check
            channels against a spec or name, optional (and cross-checked) for a model.

    Raises:
        AttrbenchError: ``image_shape`` is not ``(C, H, W)``, the channels differ, or ``H`` or
            ``W`` is below the architecture's ``min_input_size``.
    """
    shape = tuple(int(v) for v in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise AttrbenchError(
            f"Image shape must be (C, H, W) with positive sizes, got {tuple(image_shape)}."
        )
    c, h, w = shape
    spec: ModelSpec | None
    if isinstance(model_or_spec, str):
        from attrbench.models.factory import get_model_spec

        spec = get_model_spec(model_or_spec)
    elif isinstance(model_or_spec, ModelSpec):
        spec = model_or_spec
    else:
        spec = model_spec_of(model_or_spec)
        build = model_build_of(model_or_spec)
        model_channels = first_conv_in_channels(model_or_spec)
        if model_channels is None and build is not None:
            model_channels = build.in_channels
        if model_channels is not None:
            in_channels = model_channels
    name = spec.name if spec is not None else type(model_or_spec).__name__
    if in_channels is not None and c != in_channels:
        hint = ("convert the images to RGB or build the model with in_channels=1"
                if c == 1 else f"build the model with in_channels={c} or convert the images")
        raise AttrbenchError(
            f"Images have {c} channel(s) but model {name} takes {in_channels}; {hint}."
        )
    if spec is not None and min(h, w) < spec.min_input_size:
        raise AttrbenchError(
            f"Images of {h}x{w} pixels are smaller than the {spec.min_input_size}x"
            f"{spec.min_input_size} minimum of model {name}; resize them or choose a model for "
            f"small images (e.g. small_cnn)."
        )
