"""Evaluation: the streaming runner, the Python API and the FPA reproduction job."""

from attrbench.evaluation.api import evaluate
from attrbench.evaluation.runner import EvalConfig, ModelEntry, run_evaluation

__all__ = ["EvalConfig", "ModelEntry", "evaluate", "run_evaluation"]
