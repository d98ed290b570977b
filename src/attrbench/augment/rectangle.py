"""The "Rectangle" baseline of the FPA paper: random erasing (Zhong et al., AAAI 2020), batched.

Brocki & Chung compare FPA with random erasing ("Rectangle" in their figures, Sec. 4). The authors'
code (``perturbations.py: mask_batch_rect``, NOTES §1.2) erases one rectangle in every image: area
``U(0.02, 0.4) * H * W``, aspect ratio ``h / w ~ U(0.3, 1 / 0.3)``, sides ``round(sqrt(area * aspect))``
and ``round(sqrt(area / aspect))``, resampled until ``h < H`` and ``w < W``, top-left corner uniform
over the positions where it fits, all channels set to 0 (normalised space). Whole mini-batches are
erased with probability p = 0.5, as for FPA.

Why not ``torchvision.transforms.v2.RandomErasing``: it handles one image per call (a Python loop
over the batch, with up to 10 host-synchronising attempts each), draws the aspect ratio
log-uniformly rather than uniformly as in Zhong et al. and the FPA code, leaves the image untouched
when no attempt fits, and uses torch's global RNG instead of a ``torch.Generator``. Here all images
draw several candidates at once and keep the first that fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from attrbench.augment.base import batch_decision, check_image_batch, draw_device, fill, rand
from attrbench.errors import AttrbenchError

#: Candidates drawn per image and round, and the number of rounds. On 32x32 images about 5 % of
#: candidates do not fit, so all 32 fail with probability ~1e-42; see :func:`rectangle_mask` for the
#: fallback. All rounds are always drawn, so the number of draws never depends on the outcome.
CANDIDATES_PER_ROUND = 8
ROUNDS = 4


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RectangleConfig:
    """Parameters of the random-erasing baseline (Zhong et al. 2020; NOTES §1.2).

    Attributes:
        p: probability that a mini-batch is erased at all, in [0, 1].
        area_min: smallest erased area as a fraction of H * W, in (0, 1).
        area_max: largest erased area as a fraction of H * W, in [area_min, 1).
        aspect_min: the aspect ratio h / w is drawn uniformly from [aspect_min, 1 / aspect_min],
            aspect_min in (0, 1].
        mask_value: value written into erased pixels, in the model's input space.

    Raises:
        AttrbenchError: a parameter outside its range.
    """

    p: float = 0.5
    area_min: float = 0.02
    area_max: float = 0.4
    aspect_min: float = 0.3
    mask_value: float = 0.0

    def __post_init__(self) -> None:
        if not (_finite(self.p) and 0 <= self.p <= 1):
            raise AttrbenchError(f"Rectangle p must be a number in [0, 1]; got {self.p!r}.")
        if not (_finite(self.area_min) and _finite(self.area_max)
                and 0 < self.area_min <= self.area_max < 1):
            raise AttrbenchError("Rectangle areas must satisfy 0 < area_min <= area_max < 1; got "
                                 f"area_min={self.area_min!r}, area_max={self.area_max!r}.")
        if not (_finite(self.aspect_min) and 0 < self.aspect_min <= 1):
            raise AttrbenchError(f"Rectangle aspect_min must be in (0, 1]; got {self.aspect_min!r}. "
                                 "Zhong et al. use 0.3.")
        if not _finite(self.mask_value):
            raise AttrbenchError(f"Rectangle mask_value must be a finite number; "
                                 f"got {self.mask_value!r}.")


#: Only the paper's setting.
RECTANGLE_PRESETS = MappingProxyType({"default": RectangleConfig()})


def rectangle_mask(batch_size: int, height: int, width: int, config: RectangleConfig | None = None,
                   generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> Tensor:
    """Draw one erasing rectangle per image, vectorised over the batch.

    Each image draws ``CANDIDATES_PER_ROUND * ROUNDS`` candidate (area, aspect) pairs and keeps the
    first whose sides fit (``h < H`` and ``w < W``), which is the distribution of Zhong et al.'s
    resample-until-it-fits loop. Fallback, if no candidate fits (probability ~1e-42 on 32x32
    images, but likely on very elongated images): the last candidate with its sides clipped to
    ``H - 1`` and ``W - 1``, so every image still gets exactly one rectangle. Sides are at least 1.

    Args:
        batch_size: number of images B.
        height: image height H (>= 2).
        width: image width W (>= 2).
        config: area and aspect ranges (default :class:`RectangleConfig`).
        generator: seeded generator; draws happen on its device (None = torch's global RNG).
        device: device of the returned mask (default: the generator's device, else CPU).

    Returns:
        Bool tensor (B, H, W), True inside each image's rectangle.

    Raises:
        AttrbenchError: images smaller than 2x2.
    """
    cfg = config if config is not None else RectangleConfig()
    if height < 2 or width < 2:
        raise AttrbenchError(f"Rectangle erasing needs images of at least 2x2 pixels; "
                             f"got {height}x{width}.")
    if device is None:
        device = draw_device(generator, torch.device("cpu"))
    device = torch.device(device)
    n = CANDIDATES_PER_ROUND * ROUNDS
    u = rand((batch_size, n, 2), generator, device)
    area = (cfg.area_min + (cfg.area_max - cfg.area_min) * u[..., 0]) * (height * width)
    aspect = cfg.aspect_min + (1 / cfg.aspect_min - cfg.aspect_min) * u[..., 1]
    h = torch.sqrt(area * aspect).round().clamp(min=1).to(torch.int64)
    w = torch.sqrt(area / aspect).round().clamp(min=1).to(torch.int64)
    fits = (h < height) & (w < width)
    # argmax of a 0/1 tensor returns the first maximal index: the first fitting candidate, or 0.
    first = torch.where(fits.any(dim=1), fits.to(torch.uint8).argmax(dim=1),
                        torch.full((batch_size,), n - 1, device=device))
    idx = torch.arange(batch_size, device=device)
    h = h[idx, first].clamp(max=height - 1)
    w = w[idx, first].clamp(max=width - 1)

    corner = rand((batch_size, 2), generator, device)
    top = (corner[:, 0] * (height - h + 1)).floor().to(torch.int64).clamp(max=height - h)
    left = (corner[:, 1] * (width - w + 1)).floor().to(torch.int64).clamp(max=width - w)
    rows = torch.arange(height, device=device).view(1, height)
    cols = torch.arange(width, device=device).view(1, width)
    in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


class Rectangle:
    """Random erasing of one rectangle per image, the FPA paper's "Rectangle" baseline.

    Args:
        config: the parameters; default :class:`RectangleConfig` (Zhong et al.'s values, p = 0.5).
    """

    name = "rectangle"

    def __init__(self, config: RectangleConfig | None = None) -> None:
        self.config = config if config is not None else RectangleConfig()

    def apply(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """Erase the mini-batch with probability ``p``.

        Always consumes two scalar draws (the coin and an unused second number, which keeps the
        same draw pattern as FPA), then the rectangle draws only if the batch is erased.

        Args:
            x: images (B, C, H, W), floating point, in the model's input space. Never modified.
            generator: seeded generator (None = torch's global RNG).

        Returns:
            ``(x_aug, mask)``: if erased, a new tensor with each image's rectangle set to
            ``mask_value`` in all channels and the (B, H, W) bool mask; otherwise ``x`` itself (same
            object, no copy) and None.

        Raises:
            AttrbenchError: ``x`` is not an image batch of at least 2x2 pixels.
        """
        check_image_batch(x, "Rectangle")
        b, _, h, w = x.shape
        if h < 2 or w < 2:
            raise AttrbenchError(f"Rectangle erasing needs images of at least 2x2 pixels; got {h}x{w}.")
        perturb, _ = batch_decision(self.config.p, 0.0, 1.0, generator)
        if not perturb:
            return x, None
        mask = rectangle_mask(b, h, w, self.config, generator, x.device)
        return fill(x, mask, self.config.mask_value), mask

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Return the erased batch (see :meth:`apply`)."""
        return self.apply(x, generator)[0]

    def __repr__(self) -> str:
        return f"Rectangle({self.config})"
