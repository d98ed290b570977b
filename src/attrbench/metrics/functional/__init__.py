"""Pure batched tensor maths for metrics (no configuration objects, no I/O)."""

from attrbench.metrics.functional.fidelity import FidelityResult, auc, fidelity, normalise_curves
from attrbench.metrics.functional.perturbation import (
    Curves,
    integration_axis,
    perturbation_curves,
    step_schedule,
)
from attrbench.metrics.functional.ranking import ConstantMapWarning, pixel_order, pixel_ranks

__all__ = [
    "ConstantMapWarning",
    "Curves",
    "FidelityResult",
    "auc",
    "fidelity",
    "integration_axis",
    "normalise_curves",
    "perturbation_curves",
    "pixel_order",
    "pixel_ranks",
    "step_schedule",
]
