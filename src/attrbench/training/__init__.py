"""Training: one loop, named recipes, training regimes (natural, PGD, IG-NORM), FPA / Rectangle
augmentation, exact resume."""

from attrbench.training.config import TrainConfig
from attrbench.training.loop import TrainResult, evaluate_accuracy, train
from attrbench.training.recipes import Recipe, get_recipe, list_recipes
from attrbench.training.regimes import REGIMES, Regime, create_regime, list_regimes, training_step

__all__ = ["REGIMES", "Recipe", "Regime", "TrainConfig", "TrainResult", "create_regime",
           "evaluate_accuracy", "get_recipe", "list_recipes", "list_regimes", "train",
           "training_step"]
