"""What every batch augmentation shares: the protocol, the batch-level coin, seeded draws, input checks.

An augmentation is called on a whole normalised mini-batch ``x`` of shape ``(B, C, H, W)`` with a
``torch.Generator`` and returns a batch of the same shape, dtype and device. FPA and Rectangle decide
once per mini-batch, with probability ``p``, whether the batch is perturbed at all (Brocki & Chung,
"Feature Perturbation Augmentation", Sec. 3: "mini-batches in training are selected for perturbation
with a probability p"); the authors' code does the same with p = 0.5 (NOTES §1.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from attrbench.errors import AttrbenchError


@runtime_checkable
class Augmentation(Protocol):
    """A seeded, batched training augmentation.

    Attributes:
        name: registry name (``"none"``, ``"fpa"``, ``"rectangle"``).
        config: frozen dataclass of its parameters (written into the checkpoint sidecar).
    """

    name: str
    config: Any

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment ``x`` (B, C, H, W); return a batch of the same shape, dtype and device."""
        ...

    def apply(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """Like ``__call__`` but also return the (B, H, W) bool mask (True = masked), or None."""
        ...


def check_image_batch(x: Tensor, who: str) -> None:
    """Check that ``x`` is a floating-point image batch (B, C, H, W).

    Raises:
        AttrbenchError: wrong number of dimensions or a non-floating dtype.
    """
    if not isinstance(x, Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise AttrbenchError(f"{who} expects an image batch of shape (B, C, H, W); got {shape}. "
                             "Add a batch dimension with x.unsqueeze(0).")
    if not x.is_floating_point():
        raise AttrbenchError(f"{who} expects a floating-point batch normalised as the model expects; "
                             f"got dtype {x.dtype}. Convert and normalise the images first.")


def draw_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    """The device random numbers are drawn on: the generator's own device, else ``device``."""
    return generator.device if generator is not None else device


def rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device,
         dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform [0, 1) draws of ``shape`` and ``dtype`` from ``generator``, placed on ``device``.

    Draws happen on the generator's device (torch refuses a CPU generator for CUDA tensors) and are
    moved to ``device`` if it differs. A generator on the batch's device avoids that copy; a CPU
    generator gives the same masks on every device. ``generator=None`` uses torch's global RNG.
    """
    out = torch.rand(shape, generator=generator, device=draw_device(generator, device), dtype=dtype)
    return out.to(device)


def batch_decision(p: float, low: float, high: float,
                   generator: torch.Generator | None) -> tuple[bool, float]:
    """Draw the per-mini-batch coin and one uniform number, always consuming exactly two draws.

    Args:
        p: probability that the mini-batch is perturbed.
        low, high: bounds of the uniform number returned second (FPA's p1 ~ U(0, p1_max)).
        generator: the seeded generator (None = torch's global RNG).

    Returns:
        ``(perturb, value)``: whether to perturb, and ``value ~ U(low, high)``.
    """
    u = torch.rand(2, generator=generator, device=draw_device(generator, torch.device("cpu")))
    coin, v = u.tolist()
    return coin < p, low + (high - low) * v


def fill(x: Tensor, mask: Tensor, value: float) -> Tensor:
    """Return a copy of ``x`` (B, C, H, W) with pixels where ``mask`` (B, H, W) is True set to
    ``value`` in all channels; ``x`` itself is not modified."""
    return x.masked_fill(mask.unsqueeze(1), value)


@dataclass(frozen=True)
class NoAugmentationConfig:
    """The identity augmentation has no parameters."""


class NoAugmentation:
    """The identity: returns the batch itself (the same tensor object, not a copy).

    Consumes no random numbers, so a run without augmentation draws the same crops and flips as
    one with it.
    """

    name = "none"

    def __init__(self, config: NoAugmentationConfig | None = None) -> None:
        self.config = config if config is not None else NoAugmentationConfig()

    def apply(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, None]:
        """Return ``(x, None)`` after checking that ``x`` is an image batch (B, C, H, W)."""
        check_image_batch(x, "The 'none' augmentation")
        return x, None

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Return ``x`` unchanged."""
        return self.apply(x, generator)[0]

    def __repr__(self) -> str:
        return "NoAugmentation()"
