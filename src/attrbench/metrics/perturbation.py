"""``PixelFlipping``: configured MIF/LIF perturbation curves (thin wrapper of the engine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.perturbation import Curves, perturbation_curves, step_schedule
from attrbench.metrics.functional.ranking import ORDERS, TIE_BREAKS


@dataclass(frozen=True)
class PixelFlipping:
    """Perturbation curves of the predicted-class logit, MIF and LIF (FPA paper, Sec. 3, App. C).

    Holds the configuration; the maths is :func:`~attrbench.metrics.functional.perturbation_curves`.

    Attributes:
        num_steps: steps after step 0, evenly spread up to every pixel masked; ``None`` with
            ``step=None`` gives 20 steps, i.e. 21 points from 0 to 100 % masked for every size.
        step: pixels masked per step (authors' rule ``arange(0, H*W, step)``; their step is
            ``authors_step(H*W)``); exclusive with ``num_steps``.
        orders: which curves, a subset of ``("mif", "lif")``.
        mask_value: fill of masked pixels in the model's input space, one number or one per channel.
        tie_break: ``"random"`` (seeded, default) or ``"reference"`` (authors' argsort).
        max_batch: most images per forward pass.

    Example:
        >>> import torch
        >>> from attrbench.runtime import make_generator
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2))
        >>> images = torch.rand(3, 3, 4, 4, generator=make_generator(1)) * 2 - 1  # (B, C, H, W)
        >>> maps = torch.rand(3, 4, 4, generator=make_generator(2))               # (B, H, W)
        >>> curves = PixelFlipping(num_steps=4)(model.eval(), images, maps,
        ...                                     generator=make_generator(0))
        >>> curves.mif.shape, curves.lif.shape, curves.counts.tolist()   # pixels masked per step
        (torch.Size([3, 5]), torch.Size([3, 5]), [0, 4, 8, 12, 16])
    """

    name: ClassVar[str] = "pixel_flipping"
    higher_is_better: ClassVar[bool | None] = None  # curves, not a score; see Fidelity

    num_steps: int | None = None
    step: int | None = None
    orders: tuple[str, ...] = ORDERS
    mask_value: float | tuple[float, ...] = 0.0
    tie_break: str = "random"
    max_batch: int = 256

    def __post_init__(self) -> None:
        if self.tie_break not in TIE_BREAKS:
            raise AttrbenchError(
                f"Unknown tie_break {self.tie_break!r}; use one of: {', '.join(TIE_BREAKS)}."
            )
        if (
            not self.orders
            or any(o not in ORDERS for o in self.orders)
            or len(set(self.orders)) != len(self.orders)
        ):
            raise AttrbenchError(
                f"orders must be a non-empty subset of {ORDERS}; got {self.orders}."
            )
        if self.num_steps is not None and self.step is not None:
            raise AttrbenchError("Give either num_steps or step, not both.")
        if self.max_batch < 1:
            raise AttrbenchError(f"max_batch must be >= 1; got {self.max_batch}.")

    def __call__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        maps: torch.Tensor,
        targets: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Curves:
        """Curves of ``images (B, C, H, W)`` ranked by ``maps (B, H, W)`` (perturbation_curves)."""
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            raise AttrbenchError("images must be a tensor of shape (B, C, H, W).")
        counts = step_schedule(images.shape[2] * images.shape[3], self.num_steps, self.step)
        return perturbation_curves(
            model,
            images,
            maps,
            targets=targets,
            orders=self.orders,
            counts=counts,
            mask_value=self.mask_value,
            tie_break=self.tie_break,
            generator=generator,
            max_batch=self.max_batch,
        )
