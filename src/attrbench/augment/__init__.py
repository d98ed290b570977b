"""Training augmentations by name: ``none``, ``fpa`` (Brocki & Chung, Algorithm 1) and ``rectangle``
(random erasing, the paper's "Rectangle" baseline).

Every augmentation is a callable ``aug(x, generator) -> x`` on a normalised (B, C, H, W) batch, with
``aug.name``, ``aug.config`` (a frozen dataclass, recorded in the checkpoint sidecar) and
``aug.apply(x, generator) -> (x, mask or None)`` for inspection.

Example:
    >>> import dataclasses, torch
    >>> from attrbench.augment import create_augmentation
    >>> from attrbench.runtime import make_generator
    >>> x = torch.rand(2, 3, 32, 32) * 2 - 1                          # (B, C, H, W) in [-1, 1]
    >>> aug = create_augmentation("fpa", preset="imagenet", mode="reference")
    >>> aug(x, make_generator(0)).shape
    torch.Size([2, 3, 32, 32])
    >>> same = create_augmentation("fpa", **dataclasses.asdict(aug.config))   # from a sidecar
    >>> same.config == aug.config
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from attrbench.augment.base import Augmentation, NoAugmentation, NoAugmentationConfig
from attrbench.augment.fpa import FPA, FPA_PRESETS, FPAConfig, fpa_mask
from attrbench.augment.rectangle import RECTANGLE_PRESETS, Rectangle, RectangleConfig, rectangle_mask
from attrbench.errors import AttrbenchError, unknown_name_error
from attrbench.registry import Registry

__all__ = [
    "AUGMENTATIONS", "Augmentation", "AugmentationSpec", "FPA", "FPAConfig", "FPA_PRESETS",
    "NoAugmentation", "NoAugmentationConfig", "RECTANGLE_PRESETS", "Rectangle", "RectangleConfig",
    "create_augmentation", "fpa_mask", "list_augmentations", "rectangle_mask",
]


@dataclass(frozen=True)
class AugmentationSpec:
    """A registered augmentation.

    Attributes:
        name: registry name.
        factory: builds the augmentation from its config.
        config_type: the frozen config dataclass.
        presets: named configs; ``default_preset`` is used when no preset is given.
        default_preset: key into ``presets``.
        description: one line for listings.
    """

    name: str
    factory: Callable[[Any], Augmentation]
    config_type: type
    presets: Mapping[str, Any]
    default_preset: str
    description: str


AUGMENTATIONS: Registry[AugmentationSpec] = Registry("augmentation")
AUGMENTATIONS.register("none", AugmentationSpec(
    "none", NoAugmentation, NoAugmentationConfig,
    MappingProxyType({"default": NoAugmentationConfig()}), "default", "no augmentation (identity)"))
AUGMENTATIONS.register("fpa", AugmentationSpec(
    "fpa", FPA, FPAConfig, FPA_PRESETS, "cifar",
    "feature perturbation augmentation (Brocki & Chung, Algorithm 1)"))
AUGMENTATIONS.register("rectangle", AugmentationSpec(
    "rectangle", Rectangle, RectangleConfig, RECTANGLE_PRESETS, "default",
    "random erasing of one rectangle per image (Zhong et al.; the paper's 'Rectangle')"))


def list_augmentations(pattern: str = "*") -> list[str]:
    """Sorted names of the registered augmentations matching a shell-style ``pattern``."""
    return AUGMENTATIONS.names(pattern)


def create_augmentation(name: str, preset: str | None = None, **overrides: Any) -> Augmentation:
    """Build a registered augmentation from a preset plus parameter overrides.

    Args:
        name: ``"none"``, ``"fpa"`` or ``"rectangle"``.
        preset: named parameter set (``"cifar"`` / ``"imagenet"`` for FPA, ``"default"`` for the
            others); None = the augmentation's default preset (``"cifar"`` for FPA).
        **overrides: config fields to change, e.g. ``p1_max=0.3, mode="reference"``.

    Returns:
        The augmentation, with ``.name`` and ``.config``.

    Raises:
        AttrbenchError: unknown name, preset or parameter, or a parameter out of range.
    """
    spec = AUGMENTATIONS.get(name)
    preset_name = spec.default_preset if preset is None else preset
    if preset_name not in spec.presets:
        raise unknown_name_error(f"{name} preset", preset_name, spec.presets)
    valid = [f.name for f in fields(spec.config_type)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        allowed = ", ".join(valid) if valid else "none"
        raise AttrbenchError(f"Unknown parameter(s) {', '.join(unknown)} for augmentation {name!r}; "
                             f"valid parameters: {allowed}.")
    config = replace(spec.presets[preset_name], **overrides)
    return spec.factory(config)
