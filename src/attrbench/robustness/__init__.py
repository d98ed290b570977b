"""Robustness of attributions (Kamath et al., "Rethinking Robustness of Model Attributions", AAAI
2024; Ghorbani et al., "Interpretation of Neural Networks is Fragile", AAAI 2019).

- :mod:`.surrogate`: softplus surrogate of ReLU networks (context manager, model untouched).
- :mod:`.attacks`: random-sign, top-k, centre-of-mass and LENS-aware top-k attacks with presets,
  differentiating the method's own differentiable form (``MethodSpec.differentiable``).
- :mod:`.pipeline`, :mod:`.results`, :mod:`.report`: the ``attrbench robustness`` experiment,
  its tidy Parquet rows and its figures / HTML report.

The measures themselves live in :mod:`attrbench.metrics.functional.robustness` and ``.topk``; the
input space (pixel budgets, projection), PGD and IG-NORM in :mod:`attrbench.adversarial`; the
natural / PGD / IG-NORM training regimes of the compared models in
:mod:`attrbench.training.regimes` (``attrbench train --regime pgd|ig-norm``).
The report module (matplotlib) is not imported here; import it where a report is written.
"""

from attrbench.adversarial import InputSpace
from attrbench.robustness.attacks import (
    ATTACK_PRESETS,
    ATTACKS,
    CRITERIA,
    RANDOM_ATTACKS,
    AttackConfig,
    AttackResult,
    attack_config,
    attribution_attack,
    differentiable_methods,
)
from attrbench.robustness.pipeline import PAPER_EPS, RobustnessConfig, run_robustness
from attrbench.robustness.results import ROBUSTNESS_ROWS, ROBUSTNESS_SCHEMA, read_robustness
from attrbench.robustness.surrogate import SURROGATES, smooth_relu

__all__ = [
    "ATTACKS",
    "ATTACK_PRESETS",
    "CRITERIA",
    "PAPER_EPS",
    "RANDOM_ATTACKS",
    "ROBUSTNESS_SCHEMA",
    "SURROGATES",
    "AttackConfig",
    "AttackResult",
    "InputSpace",
    "RobustnessConfig",
    "ROBUSTNESS_ROWS",
    "attack_config",
    "attribution_attack",
    "differentiable_methods",
    "read_robustness",
    "run_robustness",
    "smooth_relu",
]
