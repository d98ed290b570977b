"""Adversarial inputs: the model's input space, PGD and IG-NORM's inner maximisation.

The primitives that both a training regime (:mod:`attrbench.training.regimes`: ``pgd``,
``ig-norm``) and the robustness benchmark (:mod:`attrbench.robustness`: attributional attacks)
build on. This package imports neither of them.

- :mod:`.space`: pixel-unit budgets, the valid range and the projection onto both.
- :mod:`.pgd`: ℓ∞ PGD on the cross-entropy (Madry et al. 2018) and its presets.
- :mod:`.ig_norm`: IG of the loss, ‖IG‖_1, its PGD maximisation and the IG-NORM objective
  (Chen et al. 2019).
- :mod:`.presets`: one rule for "named preset + explicit overrides".
"""

from attrbench.adversarial.ig_norm import (
    IG_NORM_PRESETS,
    IGNormConfig,
    ig_norm,
    ig_norm_attack,
    ig_norm_config,
    ig_norm_loss,
    loss_integrated_gradients,
)
from attrbench.adversarial.pgd import (
    PGD_PRESETS,
    PGDConfig,
    batch_statistics_only,
    frozen_buffers,
    pgd_attack,
    pgd_config,
)
from attrbench.adversarial.space import InputSpace, check_eps

__all__ = [
    "IG_NORM_PRESETS",
    "PGD_PRESETS",
    "IGNormConfig",
    "InputSpace",
    "PGDConfig",
    "batch_statistics_only",
    "check_eps",
    "frozen_buffers",
    "ig_norm",
    "ig_norm_attack",
    "ig_norm_config",
    "ig_norm_loss",
    "loss_integrated_gradients",
    "pgd_attack",
    "pgd_config",
]
