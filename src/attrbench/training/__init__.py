"""Training: one loop, named recipes, FPA / Rectangle augmentation, exact resume."""

from attrbench.training.config import TrainConfig
from attrbench.training.loop import TrainResult, evaluate_accuracy, train
from attrbench.training.recipes import Recipe, get_recipe, list_recipes

__all__ = ["Recipe", "TrainConfig", "TrainResult", "evaluate_accuracy", "get_recipe", "list_recipes",
           "train"]
