"""Robustness of attributions (Kamath et al., "Rethinking Robustness of Model Attributions", AAAI
2024; Ghorbani et al., "Interpretation of Neural Networks is Fragile", AAAI 2019).

- :mod:`.space`: pixel-unit budgets, valid range and projection in the model's input space.
- :mod:`.surrogate`: softplus surrogate of ReLU networks (context manager, model untouched).
- :mod:`.saliency`: differentiable attribution maps for second-order attacks.
- :mod:`.attacks`: random-sign, top-k, centre-of-mass and LENS-aware top-k attacks with presets.
- :mod:`.pgd`: PGD adversarial examples and the adversarial-training hook (Madry et al. 2018).
- :mod:`.ig_norm`: IG-NORM attribution regularisation (Chen et al. 2019), a training step.
- :mod:`.pipeline`, :mod:`.results`, :mod:`.report`: the ``attrbench robustness`` experiment,
  its tidy Parquet rows and its figures / HTML report.

The measures themselves live in :mod:`attrbench.metrics.functional.robustness` and ``.topk``.
The report module (matplotlib) is not imported here; import it where a report is written.
"""

from attrbench.robustness.attacks import (
    ATTACK_PRESETS,
    ATTACKS,
    CRITERIA,
    RANDOM_ATTACKS,
    AttackConfig,
    AttackResult,
    attack_config,
    attribution_attack,
)
from attrbench.robustness.ig_norm import (
    IG_NORM_PRESETS,
    IGNormConfig,
    ig_norm_attack,
    ig_norm_config,
    ig_norm_training_step,
)
from attrbench.robustness.pgd import (
    PGD_PRESETS,
    PGDAdversary,
    PGDConfig,
    pgd_attack,
    pgd_config,
    pgd_training_step,
)
from attrbench.robustness.pipeline import PAPER_EPS, RobustnessConfig, run_robustness
from attrbench.robustness.results import ROBUSTNESS_SCHEMA, RobustnessStore, read_robustness
from attrbench.robustness.saliency import DIFFERENTIABLE_METHODS
from attrbench.robustness.space import InputSpace
from attrbench.robustness.surrogate import SURROGATES, smooth_relu

__all__ = [
    "ATTACKS",
    "ATTACK_PRESETS",
    "CRITERIA",
    "DIFFERENTIABLE_METHODS",
    "IG_NORM_PRESETS",
    "PAPER_EPS",
    "PGD_PRESETS",
    "RANDOM_ATTACKS",
    "ROBUSTNESS_SCHEMA",
    "SURROGATES",
    "AttackConfig",
    "AttackResult",
    "IGNormConfig",
    "InputSpace",
    "PGDAdversary",
    "PGDConfig",
    "RobustnessConfig",
    "RobustnessStore",
    "attack_config",
    "attribution_attack",
    "ig_norm_attack",
    "ig_norm_config",
    "ig_norm_training_step",
    "pgd_attack",
    "pgd_config",
    "pgd_training_step",
    "read_robustness",
    "run_robustness",
    "smooth_relu",
]
