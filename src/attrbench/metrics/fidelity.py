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
        >>> Fidelity()(curves).format()
        '59.41 ± 13.41'
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
