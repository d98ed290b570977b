"""Robustness of attributions (Kamath et al., "Rethinking Robustness of Model Attributions", AAAI
2024; Ghorbani et al., "Interpretation of Neural Networks is Fragile", AAAI 2019).

- :mod:`.space`: pixel-unit budgets, valid range and projection in the model's input space.
- :mod:`.surrogate`: softplus surrogate of ReLU networks (context manager, model untouched).
- :mod:`.saliency`: differentiable attribution maps for second-order attacks.
- :mod:`.attacks`: random-sign, top-k, centre-of-mass and LENS-aware top-k attacks with presets.

The measures themselves live in :mod:`attrbench.metrics.functional.robustness` and ``.topk``.
"""

from attrbench.robustness.attacks import (
    ATTACK_PRESETS,
    ATTACKS,
    CRITERIA,
    AttackConfig,
    AttackResult,
    attack_config,
    attribution_attack,
)
from attrbench.robustness.saliency import DIFFERENTIABLE_METHODS
from attrbench.robustness.space import InputSpace
from attrbench.robustness.surrogate import SURROGATES, smooth_relu

__all__ = [
    "ATTACKS",
    "ATTACK_PRESETS",
    "CRITERIA",
    "DIFFERENTIABLE_METHODS",
    "SURROGATES",
    "AttackConfig",
    "AttackResult",
    "InputSpace",
    "attack_config",
    "attribution_attack",
    "smooth_relu",
]
