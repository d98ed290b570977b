"""The model's input space: pixel-unit budgets, the valid range and the projection onto both.

Attack budgets are given in *pixel units* of images scaled to [0, 1] (MNIST ε = 0.3; 0-255 images
ε = 8/255), as in Ghorbani et al. (2019), Madry et al. (2018) and Kamath et al. (2024). The model
sees normalised inputs x = (p - mean_c) / std_c (docs/design.md, tensor contract), so a pixel
budget ε becomes ε / std_c per channel and the valid range [0, 1] becomes
[(0 - mean_c) / std_c, (1 - mean_c) / std_c].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attrbench.errors import AttrbenchError


def check_eps(eps: float, what: str = "eps") -> float:
    """Return ``eps`` as a float in [0, 1] (pixel units) or raise AttrbenchError."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= float(eps) <= 1.0:
        raise AttrbenchError(
            f"{what} must be in [0, 1] in pixel units of images scaled to [0, 1] (e.g. 8/255 = "
            f"0.0314; divide 0-255 values by 255); got {eps!r}."
        )
    return float(eps)


@dataclass(frozen=True)
class InputSpace:
    """Per-channel normalisation of the model's inputs.

    Attributes:
        mean: per-channel mean subtracted from [0, 1] pixels.
        std: per-channel standard deviation (> 0) the difference is divided by.
    """

    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise AttrbenchError("InputSpace needs one mean and one std per channel.")
        if any(s <= 0 for s in self.std):
            raise AttrbenchError(f"InputSpace std must be > 0 per channel, got {self.std}.")

    @classmethod
    def from_stats(cls, mean: Sequence[float], std: Sequence[float]) -> InputSpace:
        """Build from a dataset spec's ``mean`` and ``std``."""
        return cls(tuple(float(m) for m in mean), tuple(float(s) for s in std))

    def _stat(self, values: tuple[float, ...], x: torch.Tensor) -> torch.Tensor:
        if len(values) not in (1, x.shape[1]):
            raise AttrbenchError(
                f"The input space has {len(values)} channels but the images have {x.shape[1]}; "
                "use the normalisation of the dataset the model was trained on."
            )
        return torch.tensor(values, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)

    def budget(self, eps: float, x: torch.Tensor) -> torch.Tensor:
        """Pixel budget ``eps`` in input units, ``(1, C, 1, 1)``: eps / std_c."""
        return eps / self._stat(self.std, x)

    def bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Valid range of inputs, each ``(1, C, 1, 1)``: ((0 - mean)/std, (1 - mean)/std)."""
        mean, std = self._stat(self.mean, x), self._stat(self.std, x)
        return (0.0 - mean) / std, (1.0 - mean) / std

    def project(self, x_new: torch.Tensor, x_orig: torch.Tensor, eps: float) -> torch.Tensor:
        """Project onto the ℓ∞ ball of pixel radius ``eps`` around ``x_orig`` and the valid range.

        Args:
            x_new, x_orig: ``(B, C, H, W)`` in input space.
            eps: pixel-unit radius in [0, 1].

        Returns:
            ``(B, C, H, W)``: clamp to the ball, then to the range (both boxes contain x_orig when
            x_orig is valid, so the result lies in their intersection).
        """
        radius = self.budget(eps, x_orig)
        lo, hi = self.bounds(x_orig)
        out = torch.maximum(torch.minimum(x_new, x_orig + radius), x_orig - radius)
        return torch.maximum(torch.minimum(out, hi), lo)

    def quantize(self, x: torch.Tensor, levels: int = 255) -> torch.Tensor:
        """Round to the nearest representable 8-bit pixel value (the Flower code casts to int)."""
        mean, std = self._stat(self.mean, x), self._stat(self.std, x)
        pixels = torch.round((x * std + mean) * levels) / levels
        return (pixels - mean) / std
