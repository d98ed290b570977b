"""What a dataset is (:class:`DatasetSpec`) and how its pixels are normalised.

The FPA paper scales CIFAR-10 and ImageNet inputs to ``[-1, 1]`` (Brocki & Chung, Appendix A:
"we scaled input images to the range [-1, 1]"), i.e. per-channel ``mean = std = 0.5`` on pixels in
``[0, 1]``; a masked pixel (value 0 in the model's input space) is then mid-gray. That is the
default here; ImageNet statistics and the identity (``[0, 1]`` inputs) are the other named presets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attrbench.errors import AttrbenchError, unknown_name_error

#: Per-channel (mean, std) presets for pixels in [0, 1]; "paper": inputs in [-1, 1] (FPA, App. A).
NORMALIZATIONS: dict[str, tuple[float, float] | tuple[tuple[float, ...], tuple[float, ...]]] = {
    "paper": (0.5, 0.5),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "none": (0.0, 1.0),
}

Normalization = str | tuple[Sequence[float] | float, Sequence[float] | float]


@dataclass(frozen=True)
class DatasetSpec:
    """Static description of an image classification dataset.

    Attributes:
        name: registry name (``"cifar10-mini"``) or, for a directory, the loader's name.
        classes: class names in label order (label ``i`` is ``classes[i]``).
        image_shape: ``(C, H, W)`` of the images the dataset yields.
        mean: per-channel mean subtracted from pixels in ``[0, 1]``, length ``C``.
        std: per-channel standard deviation divided out, length ``C``.
        description: one line for ``attrbench data list``.
        source: where the pixels come from (package data, a directory path, a citation).
    """

    name: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        channels = self.image_shape[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise AttrbenchError(
                f"Normalisation of {self.name!r} has {len(self.mean)} mean / {len(self.std)} std "
                f"values but the images have {channels} channel(s); give one value or one per "
                "channel."
            )
        if any(s <= 0 for s in self.std):
            raise AttrbenchError(f"Normalisation std must be positive, got {self.std}.")
        if not self.classes:
            raise AttrbenchError(f"Dataset {self.name!r} has no classes.")

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(classes)``."""
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        """Number of image channels ``C``."""
        return self.image_shape[0]


def resolve_normalization(
    normalization: Normalization, channels: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Turn a preset name or an explicit ``(mean, std)`` pair into per-channel tuples.

    Args:
        normalization: ``"paper"`` (mean = std = 0.5, inputs in [-1, 1]), ``"imagenet"``,
            ``"none"``, or ``(mean, std)`` with a scalar or one value per channel each.
        channels: number of image channels ``C``.

    Returns:
        ``(mean, std)``, each a tuple of ``C`` floats, in units of pixels scaled to [0, 1].

    Raises:
        AttrbenchError: unknown preset, wrong number of values, or a non-positive std.
    """
    if isinstance(normalization, str):
        if normalization not in NORMALIZATIONS:
            raise unknown_name_error("normalization", normalization, NORMALIZATIONS)
        mean, std = NORMALIZATIONS[normalization]
    else:
        try:
            mean, std = normalization
        except (TypeError, ValueError):
            raise AttrbenchError(
                f"Normalisation must be a preset name or a (mean, std) pair, got {normalization!r}."
            ) from None

    def per_channel(value: Sequence[float] | float, what: str) -> tuple[float, ...]:
        if isinstance(value, (int, float)):
            return (float(value),) * channels
        try:
            values = tuple(map(float, value))
        except (TypeError, ValueError):
            raise AttrbenchError(
                f"Normalisation {what} must be a number or one number per channel, got {value!r}."
            ) from None
        if len(values) == 1:
            values = values * channels
        if len(values) != channels:
            raise AttrbenchError(
                f"Normalisation {what} has {len(values)} values but the images have {channels} "
                f"channel(s); give one value or {channels}."
            )
        return values

    mean_t, std_t = per_channel(mean, "mean"), per_channel(std, "std")
    if any(s <= 0 for s in std_t):
        raise AttrbenchError(f"Normalisation std must be positive, got {std_t}.")
    return mean_t, std_t


def _stats(spec: DatasetSpec, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, std)`` as ``(C, 1, 1)`` float32 tensors on ``ref``'s device."""
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=ref.device).view(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=ref.device).view(-1, 1, 1)
    return mean, std


def normalize_uint8(images: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """Convert a batch of uint8 images to the model's normalised float input.

    Args:
        images: uint8 ``(N, H, W, C)`` channels-last (as in ``.images_uint8``) or ``(N, H, W)``
            grayscale; pixel values 0..255.
        spec: gives the per-channel mean and std (for pixels scaled to [0, 1]).

    Returns:
        float32 ``(N, C, H, W)``, ``(x / 255 - mean) / std`` (in [-1, 1] for the paper's default).
    """
    if images.dtype != torch.uint8:
        raise AttrbenchError(f"normalize_uint8 expects uint8 pixels, got {images.dtype}.")
    x = images.unsqueeze(-1) if images.dim() == 3 else images
    if x.dim() != 4 or x.shape[-1] != spec.in_channels:
        raise AttrbenchError(
            f"Expected uint8 images (N, H, W, {spec.in_channels}) for {spec.name!r}, "
            f"got {tuple(images.shape)}."
        )
    x = x.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    mean, std = _stats(spec, x)
    return x.sub_(mean).div_(std).contiguous()


def denormalize(x: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """Undo the normalisation for plotting: model input back to pixels in [0, 1].

    Args:
        x: float ``(C, H, W)`` or ``(B, C, H, W)`` normalised as ``spec`` says.
        spec: the dataset spec whose mean/std were applied.

    Returns:
        float ``x * std + mean`` clamped to [0, 1], same shape as ``x``.
    """
    if x.dim() not in (3, 4) or x.shape[-3] != spec.in_channels:
        raise AttrbenchError(
            f"denormalize expects (C, H, W) or (B, C, H, W) with C = {spec.in_channels}, "
            f"got {tuple(x.shape)}."
        )
    mean, std = _stats(spec, x)
    return (x.to(torch.float32) * std + mean).clamp_(0.0, 1.0)
