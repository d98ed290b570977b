"""Metrics: pure batched maths in :mod:`attrbench.metrics.functional`, thin configured classes."""

from attrbench.metrics.fidelity import Fidelity
from attrbench.metrics.functional.fidelity import FidelityResult
from attrbench.metrics.functional.perturbation import Curves
from attrbench.metrics.perturbation import PixelFlipping

__all__ = ["Curves", "Fidelity", "FidelityResult", "PixelFlipping"]
