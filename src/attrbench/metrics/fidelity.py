"""``Fidelity``: the area A between LIF and MIF curves with its CI (thin class)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.fidelity import (
    CI_KINDS,
    NONPOSITIVE_RULES,
    FidelityResult,
    fidelity,
)
from attrbench.metrics.functional.perturbation import X_AXES, Curves


@dataclass(frozen=True)
class Fidelity:
    """Fidelity A = mean AUC_LIF - mean AUC_MIF of normalised curves (FPA paper, Sec. 3, Tab. D.2).

    Holds the configuration; the maths is :func:`~attrbench.metrics.functional.fidelity.fidelity`.

    Attributes:
        x_axis: integration axis, ``"fraction"`` (default: the true percentage of pixels masked
            at each step) or ``"linspace"`` (0..100 % in equal steps whatever the counts, the
            authors' axis; parity with their schedule on 32x32 and 224x224 only).
        ci: ``"independent"`` (the paper's interval) or ``"paired"`` (per-image difference).
        level: confidence level.
        nonpositive: ``"exclude"`` images whose step-0 logit is <= 0 (counted and reported) or
            ``"error"``.
        z: optional fixed normal quantile (e.g. 1.96); default exact from ``level``.

    Example:
        A linear model ranked by its exact per-pixel contributions (weight x input, summed over
        channels): masking the largest first lowers the logit fastest, so A > 0.

        >>> import torch
        >>> from attrbench.metrics import PixelFlipping
        >>> from attrbench.runtime import make_generator
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2)).eval()
        >>> with torch.no_grad():
        ...     _ = model[1].weight.copy_(torch.linspace(-1, 1, 96).reshape(2, 48))
        ...     _ = model[1].bias.fill_(4.0)
        >>> images = torch.rand(3, 3, 4, 4, generator=make_generator(1)) * 2 - 1
        >>> weight = model[1].weight.detach().reshape(2, 3, 4, 4)
        >>> maps = (weight[model(images).argmax(1)] * images).sum(1)             # (B, H, W)
        >>> curves = PixelFlipping(num_steps=4)(model, images, maps, generator=make_generator(0))
        >>> Fidelity()(curves).format()       # percent of the step-0 logit x percent masked
        '108.21 ± 24.74'
    """

    name: ClassVar[str] = "fidelity"
    higher_is_better: ClassVar[bool] = True

    x_axis: str = "fraction"
    ci: str = "independent"
    level: float = 0.95
    nonpositive: str = "exclude"
    z: float | None = None

    def __post_init__(self) -> None:
        for value, valid, what in (
            (self.x_axis, X_AXES, "x_axis"),
            (self.ci, CI_KINDS, "ci"),
            (self.nonpositive, NONPOSITIVE_RULES, "nonpositive rule"),
        ):
            if value not in valid:
                raise AttrbenchError(f"Unknown {what} {value!r}; use one of: {', '.join(valid)}.")
        if not 0.0 < self.level < 1.0:
            raise AttrbenchError(
                f"level must lie strictly between 0 and 1 (e.g. 0.95); got {self.level}."
            )

    def __call__(self, curves: Curves) -> FidelityResult:
        """A ± CI of curves holding both MIF and LIF (see ``PixelFlipping``)."""
        if curves.mif is None or curves.lif is None:
            raise AttrbenchError(
                "Fidelity needs both MIF and LIF curves; compute them with orders=('mif', 'lif')."
            )
        return fidelity(
            curves.mif,
            curves.lif,
            curves.x(self.x_axis),
            ci=self.ci,
            level=self.level,
            nonpositive=self.nonpositive,
            z=self.z,
        )
